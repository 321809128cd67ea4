"""efiling: drafts journey, payments, notices

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 00:56:17.135145
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.tables

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sandbox_intent',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('created_at', models.tables.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    op.create_table('payment',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('draft_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('receipt_number', sqlmodel.sql.sqltypes.AutoString(length=13), nullable=True),
    sa.Column('form_type', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('provider_intent_id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('card_brand', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('card_last4', sqlmodel.sql.sqltypes.AutoString(length=4), nullable=True),
    sa.Column('last_decline_code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('paid_at', models.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', models.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', models.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key'),
    sa.UniqueConstraint('reference')
    )
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_draft_id'), ['draft_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_receipt_number'), ['receipt_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_user_id'), ['user_id'], unique=False)

    op.create_table('sandbox_charge',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('intent_id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('decline_code', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('card_brand', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('card_last4', sqlmodel.sql.sqltypes.AutoString(length=4), nullable=False),
    sa.Column('created_at', models.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['intent_id'], ['sandbox_intent.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    with op.batch_alter_table('sandbox_charge', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sandbox_charge_intent_id'), ['intent_id'], unique=False)

    op.create_table('notice',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('receipt_number', sqlmodel.sql.sqltypes.AutoString(length=13), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('document_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('verification_code', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
    sa.Column('issued_at', models.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['document.id'], ),
    sa.ForeignKeyConstraint(['receipt_number'], ['filing.receipt_number'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('receipt_number', 'seq', 'kind', name='uq_notice_transition'),
    sa.UniqueConstraint('verification_code')
    )
    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_receipt_number'), ['receipt_number'], unique=False)

    with op.batch_alter_table('draft', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('completed_steps', sa.JSON(), server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('fee_option', sqlmodel.sql.sqltypes.AutoString(length=10), server_default='', nullable=False))
        batch_op.add_column(sa.Column('waiver_reason', sqlmodel.sql.sqltypes.AutoString(length=20), server_default='', nullable=False))
        batch_op.add_column(sa.Column('waiver_explanation', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('signature', sqlmodel.sql.sqltypes.AutoString(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('signed_at', models.tables.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('expiry_warning_days', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_draft_client_id_app_user', 'app_user', ['client_id'], ['id'])
        batch_op.create_index('ix_draft_updated_at', ['updated_at'], unique=False)

    with op.batch_alter_table('filing', schema=None) as batch_op:
        batch_op.add_column(sa.Column('representative_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('draft_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True))
        batch_op.add_column(sa.Column('fee_cents', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('fee_waiver_requested', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('waiver_reason', sqlmodel.sql.sqltypes.AutoString(length=20), server_default='', nullable=False))
        batch_op.add_column(sa.Column('waiver_explanation', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('payment_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True))
        batch_op.add_column(sa.Column('signature', sqlmodel.sql.sqltypes.AutoString(length=200), server_default='', nullable=False))
        batch_op.create_index(batch_op.f('ix_filing_representative_id'), ['representative_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_filing_draft_id'), ['draft_id'], unique=False)
        batch_op.create_foreign_key('fk_filing_representative_id_app_user', 'app_user', ['representative_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('filing', schema=None) as batch_op:
        batch_op.drop_constraint('fk_filing_representative_id_app_user', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_filing_representative_id'))
        batch_op.drop_index(batch_op.f('ix_filing_draft_id'))
        batch_op.drop_column('draft_id')
        batch_op.drop_column('signature')
        batch_op.drop_column('payment_id')
        batch_op.drop_column('waiver_explanation')
        batch_op.drop_column('waiver_reason')
        batch_op.drop_column('fee_waiver_requested')
        batch_op.drop_column('fee_cents')
        batch_op.drop_column('representative_id')

    with op.batch_alter_table('draft', schema=None) as batch_op:
        batch_op.drop_index('ix_draft_updated_at')
        batch_op.drop_constraint('fk_draft_client_id_app_user', type_='foreignkey')
        batch_op.drop_column('expiry_warning_days')
        batch_op.drop_column('signed_at')
        batch_op.drop_column('signature')
        batch_op.drop_column('waiver_explanation')
        batch_op.drop_column('waiver_reason')
        batch_op.drop_column('fee_option')
        batch_op.drop_column('completed_steps')
        batch_op.drop_column('client_id')

    with op.batch_alter_table('notice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_receipt_number'))

    op.drop_table('notice')
    with op.batch_alter_table('sandbox_charge', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sandbox_charge_intent_id'))

    op.drop_table('sandbox_charge')
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_user_id'))
        batch_op.drop_index(batch_op.f('ix_payment_receipt_number'))
        batch_op.drop_index(batch_op.f('ix_payment_draft_id'))

    op.drop_table('payment')
    op.drop_table('sandbox_intent')
