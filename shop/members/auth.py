"""How a request is tied to a member: the storefront session, API tokens, and the bases of
member-only views.

The web session holds the member's id and a hash derived from their password hash, so a
password change ends every other session. No middleware: ``current_member(request)``
loads the member on first use and caches it on the request. Member sessions live in the
shop's schema (sessions are a tenant app) and cookies are per host: one shop's session
means nothing on another.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponseBase
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _
from rest_framework import permissions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from platform_core.scoping import ShopScopedMixin, assert_in_shop
from shop.members.models import Member, MemberToken, hash_token_key

SESSION_KEY = "member_id"
SESSION_HASH_KEY = "member_hash"
_CACHE_ATTR = "_members_current"
# last_used is written at most once a minute per token, not on every request.
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


def _http_request(request: HttpRequest | Request) -> HttpRequest:
    return request._request if isinstance(request, Request) else request


def session_hash(member: Member) -> str:
    return salted_hmac("shop.members.session", member.password, algorithm="sha256").hexdigest()


def remember_member(request: HttpRequest, member: Member) -> None:
    request.session[SESSION_KEY] = member.pk
    request.session[SESSION_HASH_KEY] = session_hash(member)
    setattr(request, _CACHE_ATTR, member)


def forget_member(request: HttpRequest) -> None:
    request.session.pop(SESSION_KEY, None)
    request.session.pop(SESSION_HASH_KEY, None)
    setattr(request, _CACHE_ATTR, None)


def current_member(request: HttpRequest | Request) -> Member | None:
    """The member logged in to this request's storefront session, or None."""
    http_request = _http_request(request)
    if hasattr(http_request, _CACHE_ATTR):
        return getattr(http_request, _CACHE_ATTR)  # type: ignore[no-any-return]
    member = None
    session = getattr(http_request, "session", None)
    raw_id = session.get(SESSION_KEY) if session is not None else None
    if session is not None and raw_id is not None:
        try:
            candidate = Member.objects.filter(pk=int(raw_id), is_active=True).first()
        except (TypeError, ValueError):
            candidate = None
        if candidate is not None and constant_time_compare(
            str(session.get(SESSION_HASH_KEY, "")), session_hash(candidate)
        ):
            member = candidate
        else:  # disabled, deleted, or the password changed since this session logged in
            session.pop(SESSION_KEY, None)
            session.pop(SESSION_HASH_KEY, None)
    setattr(http_request, _CACHE_ATTR, member)
    return member


class MemberRequiredMixin(ShopScopedMixin):
    """Base of storefront pages for logged-in members: others go to the login page, with
    ``?next=`` bringing them back. Sets ``self.member``."""

    member: Member

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        self.shop = assert_in_shop(request)
        member = current_member(request)
        if member is None:
            return redirect_to_login(request.get_full_path(), reverse("members:login"))
        self.member = member
        return super().dispatch(request, *args, **kwargs)


# --- API ----------------------------------------------------------------------------------


class MemberTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <key>`` with a key issued by the member login endpoints."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Member, MemberToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise AuthenticationFailed(_("Invalid Authorization header: send 'Bearer <token>'."))
        try:
            key = parts[1].decode("ascii")
        except UnicodeError as exc:
            raise AuthenticationFailed(_("The token is invalid or has been revoked.")) from exc
        token = MemberToken.objects.select_related("member").filter(key_hash=hash_token_key(key)).first()
        if token is None or not token.member.is_active:
            raise AuthenticationFailed(_("The token is invalid or has been revoked."))
        now = timezone.now()
        if token.last_used is None or now - token.last_used >= TOKEN_TOUCH_INTERVAL:
            MemberToken.objects.filter(pk=token.pk).update(last_used=now)
            token.last_used = now
        return token.member, token

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


class MemberSessionAuthentication(SessionAuthentication):
    """The storefront's own session (pages calling the API with the shopper's cookie);
    CSRF is enforced as for any session-authenticated unsafe request."""

    def authenticate(self, request: Request) -> tuple[Member, None] | None:
        member = current_member(request)
        if member is None:
            return None
        self.enforce_csrf(request)
        return member, None


class IsMember(permissions.BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.user, Member) and request.user.is_active


MEMBER_AUTHENTICATION = [MemberTokenAuthentication, MemberSessionAuthentication]
