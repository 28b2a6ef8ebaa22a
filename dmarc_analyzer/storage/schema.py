"""The tables. Reporter-controlled strings are Text: receivers write values of
any length, and a too-long value must never refuse a report on PostgreSQL.

Alembic owns the schema: change a table here, then add a
revision under migrations/versions (a test checks the two agree).

Times are stored as naive UTC; the code that reads them adds the zone back.
"""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints keep migrations portable, SQLite batch mode included.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ReportRow(Base):
    """One aggregate report. Its natural key makes a re-import a no-op."""

    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("natural_key"),
        Index("ix_reports_domain_begin", "domain", "begin"),
        Index("ix_reports_begin", "begin"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # SHA-256 of reporter, report id, domain and date range: unique, and short
    # enough for any index whatever the length of the values.
    natural_key: Mapped[str] = mapped_column(String(64))
    org_name: Mapped[str] = mapped_column(Text)
    org_email: Mapped[str | None] = mapped_column(Text)
    extra_contact_info: Mapped[str | None] = mapped_column(Text)
    report_id: Mapped[str] = mapped_column(Text)
    domain: Mapped[str] = mapped_column(Text)
    begin: Mapped[datetime] = mapped_column(DateTime)
    end: Mapped[datetime] = mapped_column(DateTime)
    adkim: Mapped[str | None] = mapped_column(Text)
    aspf: Mapped[str | None] = mapped_column(Text)
    p: Mapped[str | None] = mapped_column(Text)
    sp: Mapped[str | None] = mapped_column(Text)
    pct: Mapped[int | None] = mapped_column(Integer)
    fo: Mapped[str | None] = mapped_column(Text)
    np: Mapped[str | None] = mapped_column(Text)
    testing: Mapped[str | None] = mapped_column(Text)
    discovery_method: Mapped[str | None] = mapped_column(Text)
    schema_version: Mapped[str | None] = mapped_column(Text)
    source_file: Mapped[str | None] = mapped_column(Text)
    ingested_at: Mapped[datetime] = mapped_column(DateTime)


class RecordRow(Base):
    """One row of a report: messages from one source with one outcome."""

    __tablename__ = "records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_pk: Mapped[int] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), index=True
    )
    source_ip: Mapped[str] = mapped_column(String(45), index=True)
    count: Mapped[int] = mapped_column(BigInteger)
    disposition: Mapped[str | None] = mapped_column(Text)
    dkim: Mapped[str | None] = mapped_column(Text)
    spf: Mapped[str | None] = mapped_column(Text)
    header_from: Mapped[str | None] = mapped_column(Text)
    envelope_from: Mapped[str | None] = mapped_column(Text)
    envelope_to: Mapped[str | None] = mapped_column(Text)
    # Our own alignment check under the published adkim/aspf (alignment.py),
    # computed when the record is stored.
    dkim_outcome: Mapped[str | None] = mapped_column(Text)
    spf_outcome: Mapped[str | None] = mapped_column(Text)


class OverrideReasonRow(Base):
    __tablename__ = "override_reasons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_pk: Mapped[int] = mapped_column(
        ForeignKey("records.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str | None] = mapped_column(Text)
    comment: Mapped[str | None] = mapped_column(Text)


class DkimResultRow(Base):
    __tablename__ = "dkim_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_pk: Mapped[int] = mapped_column(
        ForeignKey("records.id", ondelete="CASCADE"), index=True
    )
    domain: Mapped[str | None] = mapped_column(Text)
    selector: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)


class SpfResultRow(Base):
    __tablename__ = "spf_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_pk: Mapped[int] = mapped_column(
        ForeignKey("records.id", ondelete="CASCADE"), index=True
    )
    domain: Mapped[str | None] = mapped_column(Text)
    scope: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)


class ReverseDnsRow(Base):
    """A cached PTR lookup, so a weekly run does not repeat them."""

    __tablename__ = "reverse_dns"

    ip: Mapped[str] = mapped_column(String(45), primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    forward_confirmed: Mapped[bool | None] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(Text)
    looked_up_at: Mapped[datetime] = mapped_column(DateTime)


class SettingRow(Base):
    """Settings kept with the data, such as the vendor file's contents."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


# The tables as Core objects, for the queries that aggregate in SQL.
reports = ReportRow.__table__
records = RecordRow.__table__
override_reasons = OverrideReasonRow.__table__
dkim_results = DkimResultRow.__table__
spf_results = SpfResultRow.__table__
reverse_dns = ReverseDnsRow.__table__
settings = SettingRow.__table__
