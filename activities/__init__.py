"""Temporal activities: classes whose methods are activities, with clients injected by worker.py.

Every activity is safe to repeat: database writes are keyed by natural unique keys, and a mail
is sent at most once per outbox row.
"""
