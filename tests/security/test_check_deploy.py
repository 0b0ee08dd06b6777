"""`python manage.py check --deploy` with the production settings README.md documents: no warning
but those the README explains (issue 12, "Deliver as well")."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _readme_production() -> tuple[dict[str, str], set[str]]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- production-settings -->", 1)[1].split("<!-- /production-settings -->", 1)
    settings_block, after = block[0], block[1]
    env = {}
    for line in settings_block.splitlines():
        if "=" in line and not line.startswith("```"):
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip()
    explained_text = after.split("\n\n", 2)[1] if "\n\n" in after else after
    explained = set(re.findall(r"security\.W\d+", explained_text))
    return env, explained


def test_check_deploy_with_the_documented_production_settings_warns_only_of_what_the_readme_explains() -> None:
    documented, explained = _readme_production()
    assert documented["DJANGO_DEBUG"] == "false" and "DJANGO_SECRET_KEY" in documented
    assert explained == {"security.W021"}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECURE_", "SESSION_", "CSRF_"))}
    env.update(documented)
    env.update(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),  # the placeholder, filled
        DJANGO_SETTINGS_MODULE="platform_core.settings",
        DATABASE_URL=os.environ.get("DATABASE_URL") or "postgres://nobody@127.0.0.1:9/none",
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    reported = set(re.findall(r"\((\w+\.[WE]\d+)\)", output))
    assert reported == explained, output


def test_without_the_production_settings_check_deploy_does_warn() -> None:
    """The control: the same command with the demo's defaults reports the insecure settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECURE_", "SESSION_", "CSRF_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="platform_core.settings",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=os.environ.get("DATABASE_URL") or "postgres://nobody@127.0.0.1:9/none",
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    reported = set(re.findall(r"\((\w+\.[WE]\d+)\)", done.stdout + done.stderr))
    assert {"security.W004", "security.W008", "security.W012", "security.W016"} <= reported
