"""Celery tasks (train)."""
