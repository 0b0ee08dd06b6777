"""Where SECRET_KEY comes from (read by settings.py before Django is set up).

Everything signed with it (sessions, CSRF, the signup hand-off that opens a merchant's console,
password reset links) is forgeable by whoever knows it, so there is no built-in default:

1. ``DJANGO_SECRET_KEY`` (production: the Helm chart's secret);
2. otherwise the file named by ``DJANGO_SECRET_KEY_FILE`` (default ``.demo-secret-key`` beside
   manage.py): ``make demo`` / ``make test`` write it once per install with a random key
   (``python -m platform_core.secret_key``); it is git-ignored and kept out of the image;
3. otherwise the process refuses to start, saying what to set.

A key that was ever published (the old built-in default) or that is plainly not random is refused
as well, wherever it comes from.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

DEFAULT_FILE_NAME = ".demo-secret-key"

# Keys that have been public (in this repository's history or Django's examples): never accepted.
KNOWN_PUBLIC_KEYS = frozenset(
    {
        "embedded-demo-only-insecure-key-change-me",
        "change-me",
        "changeme",
        "secret",
        "insecure",
    }
)
MIN_LENGTH = 32


class SecretKeyError(RuntimeError):
    """The process cannot start: no usable secret key."""


def key_file(base_dir: Path, environ: dict[str, str] | os._Environ[str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get("DJANGO_SECRET_KEY_FILE") or (base_dir / DEFAULT_FILE_NAME))


def refuse_reason(key: str) -> str | None:
    """Why ``key`` must not sign anything, or None if it may."""
    if key.strip().lower() in KNOWN_PUBLIC_KEYS or key.startswith("django-insecure-"):
        return "it is a published default key"
    if len(key) < MIN_LENGTH:
        return f"it is shorter than {MIN_LENGTH} characters"
    if len(set(key)) < 5:
        return "it has fewer than 5 distinct characters"
    return None


def load(base_dir: Path, environ: dict[str, str] | os._Environ[str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    key = environ.get("DJANGO_SECRET_KEY", "")
    source = "DJANGO_SECRET_KEY"
    if not key:
        path = key_file(base_dir, environ)
        try:
            key = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise SecretKeyError(
                "DJANGO_SECRET_KEY is not set, and there is no demo key file "
                f"({path}). Production: set DJANGO_SECRET_KEY to a long random value, e.g. "
                "`python3 -c 'import secrets; print(secrets.token_urlsafe(50))'`. "
                "A local demo or test run: `make demo` or `make test` create the demo key file once "
                "(or run `python -m platform_core.secret_key`)."
            ) from None
        source = str(path)
    reason = refuse_reason(key)
    if reason:
        raise SecretKeyError(
            f"Refusing to start: the secret key from {source} cannot be used because {reason}. "
            "Set DJANGO_SECRET_KEY to a long random value (at least 50 characters), e.g. "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(50))'`."
        )
    return key


def ensure_file(path: Path) -> bool:
    """Write a random key to ``path`` unless it exists (readable by its owner only).
    True if a key was written. Safe when two processes race: one file wins, whole."""
    if path.exists():
        return False
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(50) + "\n")
    try:
        os.link(tmp, path)  # fails if another process made it first: theirs stays
    except FileExistsError:
        return False
    finally:
        tmp.unlink()
    return True


if __name__ == "__main__":  # python -m platform_core.secret_key: make the demo key file once
    target = key_file(Path(__file__).resolve().parent.parent)
    if ensure_file(target):
        print(f"wrote a new random secret key to {target}")
    sys.exit(0)
