"""Where the database is when nobody says, in a module light enough for the
command line to read before it imports anything else."""

DATABASE_ENV = "DMARC_ANALYZER_DB"
DEFAULT_DATABASE = "sqlite:///dmarc-analyzer.sqlite"
