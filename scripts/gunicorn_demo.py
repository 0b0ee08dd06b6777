"""gunicorn settings of ``make demo`` (``gunicorn -c scripts/gunicorn_demo.py``).

One process: without Redis the demo's cache, the generations of its per-process memos
(host → shop) and its background worker (``platform_core.background``: pool refills and
beat) live in that process. ``DEMO_THREADS`` (16) threads, each keeping one database
connection (``DB_CONN_MAX_AGE``), plus the background worker's: at most 16 requests run,
and 17 PostgreSQL connections are open, however many visitors there are — the others wait in the listen
queue, where Django's threaded ``runserver`` started a thread, and a connection, per
visitor's keep-alive connection and ran PostgreSQL out of connections ("too many clients
already") with a few browsers. Keep-alive connections wait in gthread's poller, not in a
thread. ``bench/demo_load.py`` measures both under 64 and 128 clients."""

from __future__ import annotations

import os

bind = os.environ.get("DEMO_BIND", "0.0.0.0:8000")
workers = 1
worker_class = "gthread"
threads = int(os.environ.get("DEMO_THREADS", "16"))
backlog = 2048
keepalive = 5
timeout = 120  # eager Celery tasks run inside requests in the demo (the pool refill runs in the background worker)
graceful_timeout = 10
accesslog = os.environ.get("DEMO_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = "info"
