"""Celery app. Tasks carry the shop's schema in their headers (tenant-schemas-celery) and
run inside it; publish them after commit with ``platform_core.tasks.publish_on_commit``."""

import os

from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_core.settings")

app = CeleryApp("fenxiao")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
