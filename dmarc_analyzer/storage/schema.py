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
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
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


def _parent(name: str) -> Column:
    """The id of the row this row is part of (a report's, a record's).

    No foreign key: PostgreSQL checks one with a query per row written,
    which costs as much as writing the row, and ingest writes a report's
    rows in one transaction with ids of its own. Deleting reports deletes
    the rows that are part of them too (retention.delete_reports).
    """
    return Column(name, Integer, nullable=False, index=True)


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
    _parent("report_pk"),
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
    _parent("record_pk"),
    _optional("type"),
    _optional("comment"),
)

dkim_results = Table(
    "dkim_results",
    metadata,
    Column("id", Integer, primary_key=True),
    _parent("record_pk"),
    _optional("domain"),
    _optional("selector"),
    _optional("result"),
)

spf_results = Table(
    "spf_results",
    metadata,
    Column("id", Integer, primary_key=True),
    _parent("record_pk"),
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


def _sender_totals(name: str) -> Table:
    """Messages per period, policy domain and way a sender was seen, kept
    as reports are stored (totals.py): what the analysis reads.

    A row is told apart by its period, domain and `key_hash`, a hash of the
    columns from source_ip to spf_results: one narrow unique index, however
    long the names in the row. Names are lower-cased in ASCII and cut as
    totals.key_name says; a missing value is ''.
    """
    return Table(
        name,
        metadata,
        _required("period", Date),
        _required("domain", Text),  # the policy domain
        _required("key_hash", BigInteger),
        _required("source_ip", String(45)),
        _required("header_from", Text),
        _required("dkim_pass", Boolean),  # the receiver's DKIM verdict
        _required("spf_pass", Boolean),  # the receiver's SPF verdict
        _required("dkim_outcome", Text),  # our own alignment check
        _required("spf_outcome", Text),
        _required("forwarded", Boolean),  # an override reason says forwarded
        _required("treewalk", Boolean),  # discovered by the DNS tree walk
        # The record's DKIM results as JSON, [[result, d=, selector], ...]
        # in sorted order, '' when there is none; SPF's as [result, domain,
        # scope].
        _required("dkim_results", Text),
        _required("spf_results", Text),
        _required("messages", BigInteger),
        _required("first_begin", DateTime),  # of the reports behind the row
        _required("last_begin", DateTime),
        _required("last_end", DateTime),
        PrimaryKeyConstraint("period", "domain", "key_hash"),
    )


# Periods are UTC days of the reports' begin, and calendar months (the first
# day of the month): a long scope reads whole months, and days at its edges.
daily_totals = _sender_totals("daily_totals")
monthly_totals = _sender_totals("monthly_totals")

# Messages and passes per day and policy domain: headline figures, trends.
domain_days = Table(
    "domain_days",
    metadata,
    _required("period", Date),
    _required("domain", Text),
    _required("messages", BigInteger),
    _required("dmarc_pass", BigInteger),  # the receiver passed DKIM or SPF
    _required("dkim_pass", BigInteger),
    _required("spf_pass", BigInteger),
    PrimaryKeyConstraint("period", "domain"),
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
