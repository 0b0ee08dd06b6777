"""Helpers for publishing tasks. A task is published only once the transaction that asked
for it has committed, so a worker never sees a shop, an order or a row that was rolled back,
and it runs in the schema of the shop that published it."""

from __future__ import annotations

from typing import Any

from celery import Task
from django.db import transaction


def publish_on_commit(task: Task, *args: Any, **kwargs: Any) -> None:
    transaction.on_commit(lambda: task.apply_async(args=args, kwargs=kwargs))
