# The two commands of the README:
#   make demo   ingest sample_reports/ into demo.sqlite and write a summary under reports/
#   make test   run the whole test suite (SQLite and PostgreSQL)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DEMO_DB := demo.sqlite

.PHONY: demo test lint install clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(INSTALLED)
	@# Exit status 1 from ingest would mean a sample file was refused: stop then.
	$(BIN)/dmarc-analyzer --db $(DEMO_DB) ingest sample_reports/
	@# The samples use documentation IP ranges: reverse DNS would tell nothing.
	$(BIN)/dmarc-analyzer --db $(DEMO_DB) senders --offline
	$(BIN)/dmarc-analyzer --db $(DEMO_DB) failures --offline
	$(BIN)/dmarc-analyzer --db $(DEMO_DB) summary --offline --out reports/

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(INSTALLED) lint
	scripts/ensure-postgres.sh
	$(BIN)/pytest

clean:
	rm -rf $(VENV) $(DEMO_DB) $(DEMO_DB)-* reports/*.md reports/*.png
