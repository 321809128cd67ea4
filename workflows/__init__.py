"""Temporal workflows. ``CaseWorkflow`` runs one filed case; its inputs and results live in ``types``."""
