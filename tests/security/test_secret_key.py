"""Finding 3: no default secret key. The probe forged a signup hand-off with the public
default key and opened a merchant console as a staff member who had never logged in."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing

from platform_core import secret_key
from tests.conftest import PASSWORD, in_shop, shop_client

REPO = Path(__file__).resolve().parents[2]
OLD_DEFAULT = "embedded-demo-only-insecure-key-change-me"
HANDOFF_SALT = "fenxiao.signup-handoff"


def _start(env_overrides: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`manage.py check` with production settings and the given environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY_FILE")}
    env.update(
        DJANGO_SETTINGS_MODULE="platform_core.settings",
        DATABASE_URL=os.environ.get("DATABASE_URL") or "postgres://nobody@127.0.0.1:9/none",
        **env_overrides,
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def test_without_a_key_the_app_refuses_to_start_and_says_what_to_set(tmp_path: Path) -> None:
    done = _start({"DJANGO_SECRET_KEY_FILE": str(tmp_path / "absent")})
    assert done.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in done.stderr and "secrets.token_urlsafe" in done.stderr


def test_the_old_public_default_key_is_refused_even_when_set() -> None:
    done = _start({"DJANGO_SECRET_KEY": OLD_DEFAULT})
    assert done.returncode != 0
    assert "published default key" in done.stderr


def test_a_demo_key_file_is_used_when_no_key_is_set(tmp_path: Path) -> None:
    key_file = tmp_path / "demo-key"
    assert secret_key.ensure_file(key_file)
    done = _start({"DJANGO_SECRET_KEY_FILE": str(key_file)})
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (OLD_DEFAULT, "published"),
        ("django-insecure-" + "abcdefghij" * 5, "published"),
        ("short-but-random-9f", "shorter"),
        ("ab" * 40, "distinct"),
    ],
)
def test_weak_keys_are_refused(key: str, reason: str) -> None:
    with pytest.raises(secret_key.SecretKeyError, match=reason):
        secret_key.load(REPO, {"DJANGO_SECRET_KEY": key})


def test_the_demo_key_is_random_written_once_and_private(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    assert secret_key.ensure_file(first) and secret_key.ensure_file(second)
    key = first.read_text().strip()
    assert len(key) >= 50 and key != second.read_text().strip()  # one per install
    assert not secret_key.ensure_file(first) and first.read_text().strip() == key  # kept
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    assert secret_key.load(REPO, {"DJANGO_SECRET_KEY_FILE": str(first)}) == key
    assert sorted(tmp_path.iterdir()) == sorted([first, second])  # no temporary file left


def test_the_demo_key_file_stays_out_of_git_and_of_the_image() -> None:
    assert ".demo-secret-key" in (REPO / ".gitignore").read_text().split()
    assert ".demo-secret-key" in (REPO / ".dockerignore").read_text().split()


def test_settings_carry_no_built_in_key() -> None:
    source = (REPO / "platform_core" / "settings.py").read_text()
    assert OLD_DEFAULT not in source and settings.SECRET_KEY != OLD_DEFAULT


@pytest.mark.django_db
def test_a_handoff_forged_with_the_old_default_key_opens_no_console(beta: Any) -> None:
    """The probe's reproduction: a staff member who never logged in (last login ""), a token
    signed with the key that used to be the default."""
    with in_shop(beta):
        staff = get_user_model().objects.create_user("never@beta.test", PASSWORD, is_staff=True)
        assert staff.last_login is None
    payload = {"s": beta.schema_name, "u": staff.pk, "l": ""}
    forged = signing.dumps(payload, key=OLD_DEFAULT, salt=HANDOFF_SALT, compress=True)
    client = shop_client(beta)
    assert client.post("/console/handoff/", {"token": forged}).status_code == 400
    assert client.get("/console/").status_code == 302  # still anonymous
    # the same payload signed with the running key is what a real hand-off looks like
    genuine = signing.dumps(payload, salt=HANDOFF_SALT, compress=True)
    assert shop_client(beta).post("/console/handoff/", {"token": genuine}).status_code == 302
