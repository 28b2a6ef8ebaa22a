# The two commands of the README:
#   make demo   ingest sample_reports/ into demo.sqlite and write a summary under reports/
#   make test   run the whole test suite (SQLite and PostgreSQL)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DEMO_DB := demo.sqlite

.PHONY: demo test lint install clean messages

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
	@# The samples are the week of 2026-11-23; by default a summary is of last week.
	$(BIN)/dmarc-analyzer --db $(DEMO_DB) summary --offline --out reports/ \
		--since 2026-11-23 --until 2026-11-29 --format all

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(INSTALLED) lint
	scripts/ensure-postgres.sh
	scripts/install-system-packages.sh
	$(BIN)/pytest

# After changing a text of the summary: refresh the template of the
# catalogues and merge it into every language's .po file.
messages: $(INSTALLED)
	$(BIN)/pybabel extract -F babel.cfg -k N_ --no-location --omit-header \
		--sort-output -o dmarc_analyzer/locales/dmarc_analyzer.pot .
	$(BIN)/pybabel update -i dmarc_analyzer/locales/dmarc_analyzer.pot \
		-d dmarc_analyzer/locales -D dmarc_analyzer --width 88 --ignore-obsolete

clean:
	rm -rf $(VENV) $(DEMO_DB) $(DEMO_DB)-* reports/*.md reports/*.png reports/*.html reports/*.pdf
