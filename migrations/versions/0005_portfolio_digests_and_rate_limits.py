"""portfolio, digests and rate limits

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 01:45:12.960090
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.tables

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rate_limit_window',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('window_started_at', models.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('digest_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('receipt_number', sqlmodel.sql.sqltypes.AutoString(length=13), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('status_code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('occurred_at', models.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', models.tables.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'receipt_number', 'seq', name='uq_digest_item')
    )
    with op.batch_alter_table('digest_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_digest_item_user_id'), ['user_id'], unique=False)

    op.create_table('watched_case',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('receipt_number', sqlmodel.sql.sqltypes.AutoString(length=13), nullable=False),
    sa.Column('nickname', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
    sa.Column('notify', sa.Boolean(), nullable=False),
    sa.Column('created_at', models.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'receipt_number', name='uq_watched_case')
    )
    with op.batch_alter_table('watched_case', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_watched_case_receipt_number'), ['receipt_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_watched_case_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('case_email_frequency', sqlmodel.sql.sqltypes.AutoString(length=10), server_default='each', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('app_user', schema=None) as batch_op:
        batch_op.drop_column('case_email_frequency')

    with op.batch_alter_table('watched_case', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_watched_case_user_id'))
        batch_op.drop_index(batch_op.f('ix_watched_case_receipt_number'))

    op.drop_table('watched_case')
    with op.batch_alter_table('digest_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_digest_item_user_id'))

    op.drop_table('digest_item')
    op.drop_table('rate_limit_window')
