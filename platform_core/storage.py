"""Media storage with the shop in every path.

The location is computed on every call from the connection's current schema — never
cached on the storage object, which is shared by the whole process — so a file saved
while serving shop A lands under A's folder even if the previous request was for B.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import connection
from storages.backends.s3 import S3Storage


def shop_folder() -> str:
    schema = getattr(connection, "schema_name", None) or "public"
    return schema


class ShopFileSystemStorage(FileSystemStorage):
    @property  # type: ignore[override]
    def base_location(self) -> str:
        return os.path.join(str(settings.MEDIA_ROOT), shop_folder())

    @property  # type: ignore[override]
    def location(self) -> str:
        return os.path.abspath(self.base_location)

    @property  # type: ignore[override]
    def base_url(self) -> str:
        return f"{settings.MEDIA_URL}{shop_folder()}/"


class ShopS3Storage(S3Storage):
    def __init__(self, **kwargs: object) -> None:
        root = kwargs.pop("location", None)
        super().__init__(**kwargs)
        # django-storages would skip AWS_LOCATION (it sees our property); take it ourselves.
        self._root = str(root if root is not None else getattr(settings, "AWS_LOCATION", ""))

    @property  # type: ignore[override]
    def location(self) -> str:
        root = getattr(self, "_root", "") or ""
        return f"{root.strip('/')}/{shop_folder()}".strip("/")

    @location.setter
    def location(self, value: str) -> None:
        self._root = value
