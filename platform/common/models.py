"""Rows of the common app: tasks whose message the broker could not take yet (an outbox)."""

from django.db import models


class PendingTask(models.Model):
    """A task sent after its transaction committed while the broker was down: kept here and
    sent when the broker is back (``common.jobs.pending_tasks_send``), so no job is lost."""

    task = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    created = models.DateTimeField(auto_now_add=True)
    tries = models.PositiveIntegerField(default=1)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.task}{tuple(self.args)}"
