"""Caseline's domain: plain types (stages, statuses, forms, receipt numbers) and SQLModel tables.

This package imports nothing from web/, workflows/ or activities/. ``models.domain`` is pure
Python so workflow code can use it inside the Temporal sandbox.
"""
