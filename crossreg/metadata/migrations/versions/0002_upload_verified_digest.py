"""uploads.verified_digest: the digest a completion verified before moving the bytes into place

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 05:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verified_digest', sa.String(length=160), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.drop_column('verified_digest')
