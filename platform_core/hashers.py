"""The password hasher: Argon2id with OWASP's parameters (Password Storage Cheat Sheet:
m = 46 MiB, t = 1, p = 1), memory-hard where PBKDF2 is not.

Measured on the 2-core machine, one hash: PBKDF2-SHA256 with Django's default 1,000,000
iterations 240-250 ms; this 55-65 ms (`bench/signup_browser.py` prints it). Signup, console
and member logins all pay one hash, so this is most of what the owner waits for in a signup.
Memory: 46 MiB per concurrent hash (a gunicorn worker hashes one at a time).
Existing PBKDF2 hashes still verify (``PASSWORD_HASHERS`` keeps PBKDF2 second) and are
rehashed with Argon2id at the user's next login."""

from __future__ import annotations

from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idHasher(Argon2PasswordHasher):
    # algorithm stays "argon2": the encoded form is Django's own ("argon2$argon2id$v=19$m=…").
    time_cost = 1
    memory_cost = 47104  # KiB = 46 MiB
    parallelism = 1
