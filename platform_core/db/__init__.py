"""The database backend: django-tenants' PostgreSQL backend (``base.DatabaseWrapper``)."""
