"""The tables. Reporter-controlled strings are Text: receivers write values of
any length, and a too-long value must never refuse a report on PostgreSQL.

Alembic owns the schema: change a table here, then add a
revision under migrations/versions (a test checks the two agree).

The tables are SQLAlchemy Core objects: every query here is Core, and the
ORM would add a tenth of a second to the start of every command.

Times are stored as naive UTC; the code that reads them adds the zone back.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# Named constraints keep migrations portable, SQLite batch mode included.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _required(name: str, type_) -> Column:
    return Column(name, type_, nullable=False)


def _optional(name: str, type_=Text) -> Column:
    return Column(name, type_, nullable=True)


def _parent(name: str, table: str) -> Column:
    """A reference to a row the row is part of: deleted with it."""
    return Column(
        name,
        ForeignKey(f"{table}.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )


# One aggregate report. Its natural key makes a re-import a no-op.
reports = Table(
    "reports",
    metadata,
    Column("id", Integer, primary_key=True),
    # SHA-256 of reporter, report id, domain and date range: unique, and short
    # enough for any index whatever the length of the values.
    _required("natural_key", String(64)),
    _required("org_name", Text),
    _optional("org_email"),
    _optional("extra_contact_info"),
    _required("report_id", Text),
    _required("domain", Text),
    _required("begin", DateTime),
    _required("end", DateTime),
    _optional("adkim"),
    _optional("aspf"),
    _optional("p"),
    _optional("sp"),
    _optional("pct", Integer),
    _optional("fo"),
    _optional("np"),
    _optional("testing"),
    _optional("discovery_method"),
    _optional("schema_version"),
    _optional("source_file"),
    _required("ingested_at", DateTime),
    UniqueConstraint("natural_key"),
    Index("ix_reports_domain_begin", "domain", "begin"),
    Index("ix_reports_begin", "begin"),
)

# One row of a report: messages from one source with one outcome.
records = Table(
    "records",
    metadata,
    Column("id", Integer, primary_key=True),
    _parent("report_pk", "reports"),
    Column("source_ip", String(45), nullable=False),
    _required("count", BigInteger),
    _optional("disposition"),
    _optional("dkim"),
    _optional("spf"),
    _optional("header_from"),
    _optional("envelope_from"),
    _optional("envelope_to"),
    # Our own alignment check under the published adkim/aspf (alignment.py),
    # computed when the record is stored.
    _optional("dkim_outcome"),
    _optional("spf_outcome"),
)

override_reasons = Table(
    "override_reasons",
    metadata,
    Column("id", Integer, primary_key=True),
    _parent("record_pk", "records"),
    _optional("type"),
    _optional("comment"),
)

dkim_results = Table(
    "dkim_results",
    metadata,
    Column("id", Integer, primary_key=True),
    _parent("record_pk", "records"),
    _optional("domain"),
    _optional("selector"),
    _optional("result"),
)

spf_results = Table(
    "spf_results",
    metadata,
    Column("id", Integer, primary_key=True),
    _parent("record_pk", "records"),
    _optional("domain"),
    _optional("scope"),
    _optional("result"),
)

# A cached PTR lookup, so a weekly run does not repeat them.
reverse_dns = Table(
    "reverse_dns",
    metadata,
    Column("ip", String(45), primary_key=True),
    _optional("name"),
    _optional("forward_confirmed", Boolean),
    _required("status", Text),
    _required("looked_up_at", DateTime),
)

# Settings kept with the data, such as the senders file's contents.
settings = Table(
    "settings",
    metadata,
    Column("key", String(64), primary_key=True),
    _required("value", Text),
)

# The columns that tell the rows of the daily totals apart.
SOURCE_DAYS_KEY = (
    "day",
    "domain",
    "source_ip",
    "header_from",
    "dkim_pass",
    "spf_pass",
    "dkim_outcome",
    "spf_outcome",
    "forwarded",
    "signed",
    "treewalk",
)
RESULT_DAYS_KEY = (
    "day",
    "domain",
    "source_ip",
    "header_from",
    "dkim_pass",
    "kind",
    "result",
    "result_domain",
    "detail",
)

# Totals per day, kept as reports are stored (rollups.py): what the analysis
# reads. Names in the keys are cut to rollups.KEY_CHARACTERS, and a missing
# value is '' so that it takes part in the unique key.
source_days = Table(
    "source_days",
    metadata,
    Column("id", Integer, primary_key=True),
    _required("day", Date),
    _required("domain", Text),  # the policy domain, lower case
    _required("source_ip", String(45)),
    _required("header_from", Text),  # lower case
    _required("dkim_pass", Boolean),  # the receiver's DKIM verdict
    _required("spf_pass", Boolean),  # the receiver's SPF verdict
    _required("dkim_outcome", Text),  # our own alignment check
    _required("spf_outcome", Text),
    _required("forwarded", Boolean),  # an override reason says forwarded
    _required("signed", Boolean),  # any DKIM result at all
    _required("treewalk", Boolean),  # discovered by the DNS tree walk
    _required("messages", BigInteger),
    _required("first_begin", DateTime),
    _required("last_end", DateTime),
    UniqueConstraint(*SOURCE_DAYS_KEY, name="uq_source_days_key"),
)

# The messages behind each DKIM and SPF result, per day and source.
result_days = Table(
    "result_days",
    metadata,
    Column("id", Integer, primary_key=True),
    _required("day", Date),
    _required("domain", Text),
    _required("source_ip", String(45)),
    _required("header_from", Text),
    _required("dkim_pass", Boolean),
    _required("kind", String(4)),  # dkim or spf
    _required("result", Text),
    _required("result_domain", Text),  # d= or the SPF domain, lower case
    _required("detail", Text),  # the DKIM selector or the SPF scope
    _required("messages", BigInteger),
    UniqueConstraint(*RESULT_DAYS_KEY, name="uq_result_days_key"),
)

# What `dns check` found, one row per finding of each run: a record's
# history tells when it broke and when it was mended.
dns_checks = Table(
    "dns_checks",
    metadata,
    Column("id", Integer, primary_key=True),
    _required("checked_at", DateTime),
    _required("kind", Text),  # dkim, dmarc, spf
    _required("name", Text),  # the name queried
    _required("domain", Text),
    _optional("selector"),
    _required("severity", Text),
    _required("code", Text),
    _required("message", Text),
    Index("ix_dns_checks_name_checked_at", "name", "checked_at"),
    Index("ix_dns_checks_checked_at", "checked_at"),
)
