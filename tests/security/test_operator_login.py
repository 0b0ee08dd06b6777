"""Finding 4: the operator login is rate-limited like the others, and operators log in with a
second factor (TOTP authenticator, recovery codes) whenever DEBUG is off."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from platform_core import totp
from platform_core.models import OperatorRecoveryCode, OperatorTOTP
from tests import operators
from tests.conftest import PASSWORD, platform_client

pytestmark = pytest.mark.django_db
EMAIL = "op@fenxiao.test"


@pytest.fixture
def operator_user() -> Any:
    return get_user_model().objects.create_superuser(EMAIL, PASSWORD)


def _password_step(client: Client, password: str = PASSWORD) -> Any:
    return client.post("/operator/login/?next=/operator/tenants/tenant/", {"username": EMAIL, "password": password})


def _logged_in(client: Client) -> bool:
    return client.get("/operator/").status_code == 200


def test_the_25th_wrong_password_is_refused_from_the_21st_with_429(operator_user: Any) -> None:
    client = platform_client()
    codes = [_password_step(client, "wrong-password-x").status_code for _ in range(25)]
    assert codes[:20] == [200] * 20  # the form again, with its error
    assert codes[20:] == [429] * 5
    refused = _password_step(client)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0  # even the right one, for now


def test_first_login_enrols_an_authenticator_then_shows_recovery_codes_once(operator_user: Any) -> None:
    client = platform_client()
    first = _password_step(client)
    assert first.status_code == 302 and first["Location"] == "/operator/login/enrol/"
    assert not _logged_in(client)  # a password alone is no login
    page = client.get("/operator/login/enrol/")
    html = page.content.decode()
    assert page.status_code == 200 and "<svg" in html and 'class="segno"' in html  # drawn here, no CDN
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7 ]+)<', html).group(1).replace(" ", "")  # type: ignore[union-attr]
    assert OperatorTOTP.objects.get(user=operator_user).secret == secret
    wrong = client.post(
        "/operator/login/enrol/", {"code": "000000" if operators.code(secret) != "000000" else "111111"}
    )
    assert wrong.status_code == 400 and 'id="code-error"' in wrong.content.decode()
    assert not _logged_in(client) and not OperatorRecoveryCode.objects.exists()
    done = client.post("/operator/login/enrol/", {"code": operators.code(secret)})
    assert done.status_code == 200
    codes = re.findall(r"<li>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</li>", done.content.decode())
    assert len(codes) == 10 and len(set(codes)) == 10
    assert 'href="/operator/tenants/tenant/"' in done.content.decode()  # then where they were going
    assert _logged_in(client)
    stored = list(OperatorRecoveryCode.objects.filter(user=operator_user).values_list("code_hash", flat=True))
    assert sorted(stored) == sorted(totp.hash_recovery_code(c) for c in codes)
    assert not any(c in h for c in codes for h in stored)  # only hashes kept
    # shown once: the page cannot be had again
    assert "<li>" not in client.get("/operator/two-factor/").content.decode().split("recovery", 1)[0]


def test_an_enrolled_operator_needs_the_current_code_and_each_code_works_once(operator_user: Any) -> None:
    operators.enrol(operator_user)
    client = platform_client()
    assert _password_step(client)["Location"] == "/operator/login/verify/"
    assert client.get("/operator/login/enrol/").status_code == 302  # no second enrolment past the code
    stale = client.post("/operator/login/verify/", {"code": operators.code(offset_steps=-5)})
    assert stale.status_code == 400 and not _logged_in(client)
    code = operators.code()
    ok = client.post("/operator/login/verify/", {"code": code})
    assert ok.status_code == 302 and ok["Location"] == "/operator/tenants/tenant/"
    assert _logged_in(client)
    # someone who saw that code (and has the password) cannot use it again
    other = platform_client()
    _password_step(other)
    assert other.post("/operator/login/verify/", {"code": code}).status_code == 400
    assert not _logged_in(other)


def test_a_recovery_code_logs_in_once(operator_user: Any) -> None:
    operators.enrol(operator_user)
    codes = totp.new_recovery_codes(2)
    OperatorRecoveryCode.objects.bulk_create(
        OperatorRecoveryCode(user=operator_user, code_hash=totp.hash_recovery_code(c)) for c in codes
    )
    client = platform_client()
    _password_step(client)
    assert client.post("/operator/login/verify/", {"code": codes[0].upper()}).status_code == 302
    assert _logged_in(client)
    again = platform_client()
    _password_step(again)
    assert again.post("/operator/login/verify/", {"code": codes[0]}).status_code == 400
    assert OperatorRecoveryCode.objects.filter(user=operator_user, used_at__isnull=True).count() == 1


def test_guessing_codes_is_limited_per_operator(operator_user: Any) -> None:
    operators.enrol(operator_user)
    client = platform_client()
    _password_step(client)
    answers = [client.post("/operator/login/verify/", {"code": f"{n:06d}"}).status_code for n in range(7)]
    wrong = [a for a in answers if a != 302]
    assert wrong[-2:] == [429, 429] and answers.count(400) <= 5


def test_a_pending_login_expires(operator_user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    operators.enrol(operator_user)
    client = platform_client()
    _password_step(client)
    later = time.time() + 301
    monkeypatch.setattr("platform_core.operator_auth.time.time", lambda: later)
    expired = client.post("/operator/login/verify/", {"code": operators.code()})
    assert expired.status_code == 302 and expired["Location"] == "/operator/login/"
    assert not _logged_in(client)


def test_the_code_step_without_the_password_step_goes_back_to_login(operator_user: Any) -> None:
    operators.enrol(operator_user)
    for path in ("/operator/login/verify/", "/operator/login/enrol/"):
        response = platform_client().post(path, {"code": operators.code()})
        assert response.status_code == 302 and response["Location"] == "/operator/login/"


def test_with_debug_on_and_nothing_enrolled_the_password_is_enough(operator_user: Any, settings: Any) -> None:
    settings.OPERATOR_TWO_FACTOR_REQUIRED = False
    client = platform_client()
    response = _password_step(client)
    assert response.status_code == 302 and response["Location"] == "/operator/tenants/tenant/"
    assert _logged_in(client)
    # …but one who enrolled is still asked
    operators.enrol(operator_user)
    again = platform_client()
    assert _password_step(again)["Location"] == "/operator/login/verify/"


def test_the_two_factor_page_makes_new_recovery_codes_with_a_current_code(operator_user: Any) -> None:
    operators.enrol(operator_user)
    client = platform_client()
    operators.log_in(client, EMAIL, PASSWORD)
    page = client.get("/operator/two-factor/")
    assert page.status_code == 200 and 'id="two-factor-status"' in page.content.decode()
    bad = client.post("/operator/two-factor/", {"code": "12"})
    assert bad.status_code == 400 and not OperatorRecoveryCode.objects.exists()
    # the code of the login is used; the next step's code is accepted (within the window)
    made = client.post("/operator/two-factor/", {"code": operators.code(offset_steps=1)})
    assert made.status_code == 200 and OperatorRecoveryCode.objects.filter(user=operator_user).count() == 10


def test_shop_staff_cannot_use_the_operator_login(alpha: Any) -> None:
    client = platform_client()
    response = client.post("/operator/login/", {"username": "owner@alpha.test", "password": PASSWORD})
    assert response.status_code == 200 and not _logged_in(client)


@pytest.mark.parametrize("step", [0, 1, 2, 3, 4])
def test_totp_matches_the_rfc_6238_vectors(step: int) -> None:
    """RFC 6238 appendix B (SHA-1, 8 digits there; the last 6 of them here)."""
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # "12345678901234567890"
    times = [59, 1111111109, 1111111111, 1234567890, 2000000000]
    expected = ["94287082", "07081804", "14050471", "89005924", "69279037"]
    assert totp.code_at(secret, times[step]) == expected[step][-6:]


def test_a_session_that_skipped_the_second_step_is_no_operator_session(operator_user: Any, settings: Any) -> None:
    """E.g. a session from before two-step login existed: sent back to the login page."""
    client = platform_client()
    client.force_login(operator_user)
    assert client.get("/operator/").status_code == 302
    assert client.get("/operator/tenants/tenant/").status_code == 302
    settings.OPERATOR_TWO_FACTOR_REQUIRED = False  # DEBUG on: the password is enough
    assert client.get("/operator/").status_code == 200
