"""Celery tasks (segment)."""
