"""Media on S3 keeps each shop under its own prefix (moto's S3 server on loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from django.core.files.base import ContentFile
from moto.server import ThreadedMotoServer

from platform_core.storage import ShopS3Storage
from tests.conftest import in_shop

pytestmark = pytest.mark.django_db

CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server._server.server_port}"  # type: ignore[union-attr]
    boto3.client("s3", endpoint_url=endpoint, **CREDENTIALS).create_bucket(Bucket="fenxiao-media")
    yield endpoint
    server.stop()


def storage(endpoint: str) -> ShopS3Storage:
    return ShopS3Storage(
        bucket_name="fenxiao-media",
        endpoint_url=endpoint,
        access_key=CREDENTIALS["aws_access_key_id"],
        secret_key=CREDENTIALS["aws_secret_access_key"],
        region_name=CREDENTIALS["region_name"],
        location="media",
        querystring_auth=False,
    )


def test_files_land_under_the_shops_prefix_and_stay_there(s3_endpoint: str, alpha: Any, beta: Any) -> None:
    store = storage(s3_endpoint)  # one storage object serving both shops, as in a worker process
    with in_shop(alpha):
        name = store.save("banners/hero.txt", ContentFile(b"alpha banner"))
        assert store.exists(name)
        assert "/media/shop_alpha/banners/hero.txt" in store.url(name)
    with in_shop(beta):
        assert not store.exists(name)  # the same name means beta's own prefix
        store.save("banners/hero.txt", ContentFile(b"beta banner"))
    keys = {
        obj["Key"]
        for obj in boto3.client("s3", endpoint_url=s3_endpoint, **CREDENTIALS).list_objects_v2(Bucket="fenxiao-media")[
            "Contents"
        ]
    }
    assert {"media/shop_alpha/banners/hero.txt", "media/shop_beta/banners/hero.txt"} <= keys
    with in_shop(alpha), store.open(name) as fh:
        assert fh.read() == b"alpha banner"
