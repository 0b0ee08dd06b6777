"""Test settings: the same as production settings, with tasks run in-process."""

import os
import secrets

# A random key per test process unless one is given (subprocesses the tests start inherit it).
if not os.environ.get("DJANGO_SECRET_KEY"):
    os.environ["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)

from platform_core.settings import *  # noqa: E402, F403

CELERY_TASK_ALWAYS_EAGER = True
# Tests fill the pool explicitly where they exercise it.
SCHEMA_POOL_SIZE = 0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = BASE_DIR / ".test-media"  # noqa: F405
# Two suites on one server (e.g. two checkouts) each get their own test database.
DATABASES["default"]["TEST"] = {  # noqa: F405
    "NAME": f"test_{DATABASES['default']['NAME']}{os.environ.get('TEST_DB_SUFFIX', '')}"  # noqa: F405
}
