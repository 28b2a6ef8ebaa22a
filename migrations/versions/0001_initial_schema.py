"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("natural_key", sa.String(length=64), nullable=False),
        sa.Column("org_name", sa.Text(), nullable=False),
        sa.Column("org_email", sa.Text(), nullable=True),
        sa.Column("extra_contact_info", sa.Text(), nullable=True),
        sa.Column("report_id", sa.Text(), nullable=False),
        sa.Column("domain", sa.Text(), nullable=False),
        sa.Column("begin", sa.DateTime(), nullable=False),
        sa.Column("end", sa.DateTime(), nullable=False),
        sa.Column("adkim", sa.Text(), nullable=True),
        sa.Column("aspf", sa.Text(), nullable=True),
        sa.Column("p", sa.Text(), nullable=True),
        sa.Column("sp", sa.Text(), nullable=True),
        sa.Column("pct", sa.Integer(), nullable=True),
        sa.Column("fo", sa.Text(), nullable=True),
        sa.Column("np", sa.Text(), nullable=True),
        sa.Column("testing", sa.Text(), nullable=True),
        sa.Column("discovery_method", sa.Text(), nullable=True),
        sa.Column("schema_version", sa.Text(), nullable=True),
        sa.Column("source_file", sa.Text(), nullable=True),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint("natural_key", name=op.f("uq_reports_natural_key")),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index("ix_reports_begin", ["begin"], unique=False)
        batch_op.create_index(
            "ix_reports_domain_begin", ["domain", "begin"], unique=False
        )

    op.create_table(
        "records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_pk", sa.Integer(), nullable=False),
        sa.Column("source_ip", sa.String(length=45), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("disposition", sa.Text(), nullable=True),
        sa.Column("dkim", sa.Text(), nullable=True),
        sa.Column("spf", sa.Text(), nullable=True),
        sa.Column("header_from", sa.Text(), nullable=True),
        sa.Column("envelope_from", sa.Text(), nullable=True),
        sa.Column("envelope_to", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["report_pk"],
            ["reports.id"],
            name=op.f("fk_records_report_pk_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_records")),
    )
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_records_report_pk"), ["report_pk"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_records_source_ip"), ["source_ip"], unique=False
        )

    op.create_table(
        "dkim_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_pk", sa.Integer(), nullable=False),
        sa.Column("domain", sa.Text(), nullable=True),
        sa.Column("selector", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["record_pk"],
            ["records.id"],
            name=op.f("fk_dkim_results_record_pk_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dkim_results")),
    )
    with op.batch_alter_table("dkim_results", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dkim_results_record_pk"), ["record_pk"], unique=False
        )

    op.create_table(
        "override_reasons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_pk", sa.Integer(), nullable=False),
        sa.Column("type", sa.Text(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["record_pk"],
            ["records.id"],
            name=op.f("fk_override_reasons_record_pk_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_override_reasons")),
    )
    with op.batch_alter_table("override_reasons", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_override_reasons_record_pk"), ["record_pk"], unique=False
        )

    op.create_table(
        "spf_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_pk", sa.Integer(), nullable=False),
        sa.Column("domain", sa.Text(), nullable=True),
        sa.Column("scope", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["record_pk"],
            ["records.id"],
            name=op.f("fk_spf_results_record_pk_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spf_results")),
    )
    with op.batch_alter_table("spf_results", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_spf_results_record_pk"), ["record_pk"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("spf_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_spf_results_record_pk"))

    op.drop_table("spf_results")
    with op.batch_alter_table("override_reasons", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_override_reasons_record_pk"))

    op.drop_table("override_reasons")
    with op.batch_alter_table("dkim_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dkim_results_record_pk"))

    op.drop_table("dkim_results")
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_records_source_ip"))
        batch_op.drop_index(batch_op.f("ix_records_report_pk"))

    op.drop_table("records")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_domain_begin")
        batch_op.drop_index("ix_reports_begin")

    op.drop_table("reports")
