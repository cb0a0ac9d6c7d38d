"""Forms a client can answer: a clinic's licensed wording, its crisis text, risk notices.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instrument_wordings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("instrument_id", sa.String(length=40), nullable=False),
        sa.Column("wording", sa.JSON(), nullable=False),
        sa.Column("licence_holder", sa.String(length=200), nullable=False),
        sa.Column("licence_date", sa.Date(), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_instrument_wordings_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"], ["users.id"], name=op.f("fk_instrument_wordings_uploaded_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instrument_wordings")),
        sa.UniqueConstraint(
            "organisation_id", "instrument_id", name="uq_instrument_wordings_org_instrument"
        ),
    )
    op.create_table(
        "crisis_info",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("numbers", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_crisis_info_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["users.id"], name=op.f("fk_crisis_info_updated_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crisis_info")),
        sa.UniqueConstraint("organisation_id", name=op.f("uq_crisis_info_organisation_id")),
    )
    op.create_table(
        "risk_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=False),
        sa.Column("administration_id", sa.Integer(), nullable=False),
        sa.Column("therapist_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["episodes.id"], name=op.f("fk_risk_notices_episode_id_episodes")
        ),
        sa.ForeignKeyConstraint(
            ["administration_id"],
            ["administrations.id"],
            name=op.f("fk_risk_notices_administration_id_administrations"),
        ),
        sa.ForeignKeyConstraint(
            ["therapist_id"], ["users.id"], name=op.f("fk_risk_notices_therapist_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"], ["users.id"], name=op.f("fk_risk_notices_acknowledged_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_notices")),
        sa.UniqueConstraint("administration_id", name=op.f("uq_risk_notices_administration_id")),
    )
    op.create_index(op.f("ix_risk_notices_episode_id"), "risk_notices", ["episode_id"])
    op.create_index(op.f("ix_risk_notices_therapist_id"), "risk_notices", ["therapist_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_risk_notices_therapist_id"), table_name="risk_notices")
    op.drop_index(op.f("ix_risk_notices_episode_id"), table_name="risk_notices")
    op.drop_table("risk_notices")
    op.drop_table("crisis_info")
    op.drop_table("instrument_wordings")
