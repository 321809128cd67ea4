"""secure messages: threads, immutable messages, read markers, attachments

A message is never edited or deleted: triggers refuse UPDATE and DELETE on ``message`` on SQLite
and PostgreSQL alike, whatever code (or person at a SQL prompt) tries; also TRUNCATE on
PostgreSQL and INSERT OR REPLACE over an existing message on SQLite.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 02:53:32.965925
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.tables

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('message_thread',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('receipt_number', sqlmodel.sql.sqltypes.AutoString(length=13), nullable=False),
    sa.Column('topic', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('started_by_id', sa.Integer(), nullable=False),
    sa.Column('assigned_to_id', sa.Integer(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False, server_default='open'),
    sa.Column('awaiting', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False, server_default='staff'),
    sa.Column('created_at', models.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_message_at', models.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assigned_to_id'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['receipt_number'], ['filing.receipt_number'], ),
    sa.ForeignKeyConstraint(['started_by_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('message_thread', schema=None) as batch_op:
        batch_op.create_index('ix_message_thread_inbox', ['status', 'assigned_to_id', 'last_message_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_message_thread_receipt_number'), ['receipt_number'], unique=False)

    op.create_table('message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('thread_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('from_staff', sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('client_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('sent_at', models.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['thread_id'], ['message_thread.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('client_key')
    )
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_thread_id'), ['thread_id'], unique=False)

    op.create_table('message_read',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('thread_id', sa.Integer(), nullable=False),
    sa.Column('last_read_message_id', sa.Integer(), nullable=False, server_default='0'),
    sa.ForeignKeyConstraint(['thread_id'], ['message_thread.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['app_user.id'], ),
    sa.PrimaryKeyConstraint('user_id', 'thread_id')
    )
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_document_message_id'), ['message_id'], unique=False)
        batch_op.create_foreign_key('fk_document_message', 'message', ['message_id'], ['id'])

    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION caseline_message_immutable() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'messages cannot be changed or deleted' USING ERRCODE = 'integrity_constraint_violation'; END $$"
        )
        op.execute(
            "CREATE TRIGGER message_immutable BEFORE UPDATE OR DELETE ON message "
            "FOR EACH ROW EXECUTE FUNCTION caseline_message_immutable()"
        )
        # Row triggers do not see TRUNCATE, which empties a table at once.
        op.execute(
            "CREATE TRIGGER message_no_truncate BEFORE TRUNCATE ON message "
            "FOR EACH STATEMENT EXECUTE FUNCTION caseline_message_immutable()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER message_no_{event.lower()} BEFORE {event} ON message "
                "BEGIN SELECT RAISE(ABORT, 'messages cannot be changed or deleted'); END"
            )
        # INSERT OR REPLACE deletes the row it conflicts with without firing delete triggers
        # (unless recursive_triggers is on): refuse an insert that would replace a message.
        op.execute(
            "CREATE TRIGGER message_no_replace BEFORE INSERT ON message "
            "WHEN EXISTS (SELECT 1 FROM message WHERE id = NEW.id OR client_key = NEW.client_key) "
            "BEGIN SELECT RAISE(ABORT, 'messages cannot be changed or deleted'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER message_no_truncate ON message")
        op.execute("DROP TRIGGER message_immutable ON message")
        op.execute("DROP FUNCTION caseline_message_immutable()")
    else:
        op.execute("DROP TRIGGER message_no_update")
        op.execute("DROP TRIGGER message_no_delete")
        op.execute("DROP TRIGGER message_no_replace")
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.drop_constraint('fk_document_message', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_document_message_id'))
        batch_op.drop_column('message_id')

    op.drop_table('message_read')
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_thread_id'))

    op.drop_table('message')
    with op.batch_alter_table('message_thread', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_thread_receipt_number'))
        batch_op.drop_index('ix_message_thread_inbox')

    op.drop_table('message_thread')
