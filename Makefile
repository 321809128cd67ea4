# Caseline: `make run` starts the whole system, `make test` runs every test.
# Both install what they need first (Python packages into .venv, front-end assets into
# node_modules, compiled translations); nothing has to be installed by hand.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
CATALOGS := $(wildcard translations/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGS:.po=.mo)
SOURCES := .

.PHONY: install run test translations extract-messages clean

install: $(PY_STAMP) $(NODE_STAMP) $(COMPILED)

$(PY_STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

translations/%/LC_MESSAGES/messages.mo: translations/%/LC_MESSAGES/messages.po $(PY_STAMP)
	$(BIN)/pybabel compile --statistics -d translations -D messages -l $*

run: install
	$(BIN)/caseline dev

test: install
	$(BIN)/pytest

# Developers: after changing user-facing strings, refresh the catalogs and translate the new ones.
extract-messages: $(PY_STAMP)
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output -k N_ -o translations/messages.pot $(SOURCES)
	$(BIN)/pybabel update -i translations/messages.pot -d translations -D messages --no-fuzzy-matching --ignore-obsolete

clean:
	rm -rf $(VENV) node_modules .pytest_cache
