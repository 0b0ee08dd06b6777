import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_core.settings")
application = get_wsgi_application()

# Without a broker (the demo), a thread of this process runs the background tasks (e.g. the
# schema pool's refill after a signup) after the response; with one, Celery does.
from platform_core.background import start_embedded_worker  # noqa: E402

start_embedded_worker()
