"""Fixed-window rate limits on SQLite and PostgreSQL: counting, the window's end, separate keys,
client keys, purging, and concurrent hits that never let more than the limit through."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from models.db import session_scope
from models.ratelimit import KEY_MAX_LENGTH, client_key, hit, purge_expired
from models.tables import RateLimitWindow

T0 = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=5)


def hit_at(url: str, key: str, now: datetime, *, limit: int = 3, window: timedelta = WINDOW) -> tuple[bool, int]:
    """One hit in its own transaction, as a request makes it."""
    with session_scope(url) as session:
        return hit(session, key, limit=limit, window=window, now=now)


def test_requests_up_to_the_limit_pass_and_the_next_is_told_how_long_to_wait(database_url: str) -> None:
    answers = [hit_at(database_url, "status:1.2.3.4", T0 + timedelta(seconds=s)) for s in (0, 10, 20, 30, 299)]
    assert answers == [(True, 0), (True, 0), (True, 0), (False, 270), (False, 1)]
    with session_scope(database_url) as session:
        row = session.get(RateLimitWindow, "status:1.2.3.4")
        assert row is not None
        assert row.count == 5  # refused requests are counted too
        assert row.window_started_at == T0


def test_a_new_window_starts_when_the_last_one_has_ended(database_url: str) -> None:
    for s in range(4):
        hit_at(database_url, "k", T0 + timedelta(seconds=s))
    assert hit_at(database_url, "k", T0 + WINDOW - timedelta(microseconds=1))[0] is False
    assert hit_at(database_url, "k", T0 + WINDOW) == (True, 0)  # a fixed window: it started at T0
    later = T0 + WINDOW + timedelta(seconds=42)
    assert [hit_at(database_url, "k", later)[0] for _ in range(3)] == [True, True, False]
    with session_scope(database_url) as session:
        row = session.get(RateLimitWindow, "k")
        assert row is not None and row.window_started_at == T0 + WINDOW and row.count == 4


def test_keys_are_counted_apart(database_url: str) -> None:
    for _ in range(3):
        assert hit_at(database_url, "status:1.2.3.4", T0)[0] is True
    assert hit_at(database_url, "status:1.2.3.4", T0)[0] is False
    assert hit_at(database_url, "status:5.6.7.8", T0) == (True, 0)
    assert hit_at(database_url, "other:1.2.3.4", T0) == (True, 0)


def test_a_long_key_is_cut_to_the_column(database_url: str) -> None:
    key = "status:" + "x" * 300
    assert hit_at(database_url, key, T0, limit=1) == (True, 0)
    assert hit_at(database_url, key, T0, limit=1)[0] is False
    with session_scope(database_url) as session:
        assert [len(k) for k in session.exec(select(RateLimitWindow.key)).all()] == [KEY_MAX_LENGTH]


def test_times_in_other_zones_are_the_same_instants(database_url: str) -> None:
    from zoneinfo import ZoneInfo

    eastern = T0.astimezone(ZoneInfo("America/New_York"))
    assert hit_at(database_url, "k", eastern, limit=1) == (True, 0)
    assert hit_at(database_url, "k", T0 + timedelta(minutes=1), limit=1) == (False, 240)
    assert hit_at(database_url, "k", (T0 + WINDOW).astimezone(ZoneInfo("Asia/Tokyo")), limit=1) == (True, 0)


def test_bad_arguments_are_refused(database_url: str) -> None:
    with session_scope(database_url) as session:
        with pytest.raises(ValueError):
            hit(session, "k", limit=0, window=WINDOW, now=T0)
        with pytest.raises(ValueError):
            hit(session, "k", limit=3, window=timedelta(0), now=T0)
        with pytest.raises(ValueError):
            hit(session, "k", limit=3, window=WINDOW, now=T0.replace(tzinfo=None))


def test_concurrent_hits_never_let_more_than_the_limit_through(database_url: str) -> None:
    workers, per_worker, limit = 8, 10, 25
    barrier = threading.Barrier(workers)

    def hammer(_: int) -> list[bool]:
        barrier.wait(timeout=30)
        return [hit_at(database_url, "status:203.0.113.9", T0, limit=limit)[0] for _ in range(per_worker)]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        answers = [allowed for batch in pool.map(hammer, range(workers)) for allowed in batch]

    assert answers.count(True) == limit
    assert answers.count(False) == workers * per_worker - limit
    with session_scope(database_url) as session:
        row = session.get(RateLimitWindow, "status:203.0.113.9")
        assert row is not None and row.count == workers * per_worker


def test_concurrent_first_hits_on_a_new_key_create_one_row(database_url: str) -> None:
    workers = 8
    barrier = threading.Barrier(workers)

    def first(_: int) -> bool:
        barrier.wait(timeout=30)
        return hit_at(database_url, "status:198.51.100.1", T0, limit=1)[0]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        answers = list(pool.map(first, range(workers)))

    assert answers.count(True) == 1
    with session_scope(database_url) as session:
        assert len(session.exec(select(RateLimitWindow)).all()) == 1


def test_purge_deletes_only_ended_windows_of_its_purpose(database_url: str) -> None:
    hit_at(database_url, "status:1.1.1.1", T0)
    hit_at(database_url, "status:2.2.2.2", T0 + timedelta(minutes=4))
    hit_at(database_url, "status_x:3.3.3.3", T0)  # another purpose that only starts the same
    hit_at(database_url, "other:1.1.1.1", T0)
    with session_scope(database_url) as session:
        assert purge_expired(session, purpose="status", window=WINDOW, now=T0 + WINDOW + timedelta(seconds=1)) == 1
    with session_scope(database_url) as session:
        keys = sorted(session.exec(select(RateLimitWindow.key)).all())
    assert keys == ["other:1.1.1.1", "status:2.2.2.2", "status_x:3.3.3.3"]


def test_the_web_apps_periodic_purge_clears_ended_lookup_and_message_windows(database_url: str, tmp_path) -> None:
    from settings import Settings
    from web.filing import purge_rate_limit_windows

    now = datetime.now(UTC)
    hit_at(database_url, "status:1.1.1.1", now - timedelta(hours=2))
    hit_at(database_url, "message:7", now - timedelta(hours=2))
    hit_at(database_url, "status:2.2.2.2", now - timedelta(minutes=1))  # its window is still running
    hit_at(database_url, "message:8", now - timedelta(minutes=30))
    settings = Settings(env="test", database_url=database_url, data_dir=tmp_path)
    assert purge_rate_limit_windows(settings) == 2
    with session_scope(database_url) as session:
        assert sorted(session.exec(select(RateLimitWindow.key)).all()) == ["message:8", "status:2.2.2.2"]


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.7", "status:203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "status:2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "status:2001:db8:1:2::/64"),  # the same subscriber's network
        ("::ffff:203.0.113.7", "status:203.0.113.7"),
        ("testclient", "status:testclient"),
        ("", "status:unknown"),
        (None, "status:unknown"),
    ],
)
def test_client_keys(host: str | None, key: str) -> None:
    assert client_key("status", host) == key
