# syntax=docker/dockerfile:1
# Fenxiao production image: gunicorn web by default; the Helm chart runs the same image
# as the Celery worker, Celery beat and the migration Job (python manage.py migrate_all).
#   docker build -t registry.example.com/fenxiao:0.1.0 .
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=platform_core.settings

WORKDIR /app

# Non-root runtime user (uid/gid 10001, matching the chart's securityContext). Its home is
# /tmp: the chart mounts the root file system read-only with a writable /tmp.
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --home-dir /tmp \
      --shell /usr/sbin/nologin app

# Dependencies first, so code changes reuse this layer. Every pinned package ships a
# manylinux wheel (psycopg2-binary bundles libpq): no compiler needed.
COPY requirements/ requirements/
RUN pip install -r requirements/prod.txt

COPY . .

# Translations: compile any .po catalogues (Django reads only .mo) with GNU gettext,
# removed again in the same layer.
RUN if find . -name '*.po' | grep -q .; then \
      apt-get update \
      && apt-get install -y --no-install-recommends gettext \
      && DATABASE_URL=postgres://x@localhost/x DJANGO_SECRET_KEY=build-step-only-compilemessages-signs-nothing \
         python manage.py compilemessages \
      && apt-get purge -y --auto-remove gettext \
      && rm -rf /var/lib/apt/lists/*; \
    fi

# Static files are collected at build time and served by WhiteNoise. Importing the settings
# needs DATABASE_URL (without it they start an embedded PostgreSQL); collectstatic never
# connects to it. Byte-code is compiled here because the running image cannot write it.
RUN DATABASE_URL=postgres://x@localhost/x DJANGO_SECRET_KEY=build-step-only-collectstatic-signs-nothing \
      python manage.py collectstatic --noinput \
 && python -m compileall -q -j 0 /app \
 && mkdir -p /app/media \
 && chown app:app /app/media

USER 10001:10001
EXPOSE 8000

# The chart passes its own command (and gunicorn options) to each container.
CMD ["gunicorn", "platform_core.wsgi:application", "--bind=0.0.0.0:8000", "--workers=3", \
     "--access-logfile=-", "--error-logfile=-"]
