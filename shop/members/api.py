"""Members API for mini-program and app clients (shop host, ``/api/v1/members/``).

Clients log in with a phone number or email and a password and get a token, sent back as
``Authorization: Bearer <token>``; the storefront's own session works too (with CSRF).
Bad input answers 400 with field → messages (``non_field_errors`` for the whole request).
"""

from __future__ import annotations

from typing import Any, NoReturn, cast

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.decorators import method_decorator
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from platform_core.ratelimit import rate_limit
from platform_core.scoping import ShopAPIView, ShopViewSet
from shop.members import selectors, services
from shop.members.auth import MEMBER_AUTHENTICATION, IsMember
from shop.members.models import Address, Member, MemberToken

TAGS = ["members"]


def raise_drf(exc: DjangoValidationError) -> NoReturn:
    if not hasattr(exc, "error_dict"):
        raise ValidationError({"non_field_errors": list(exc.messages)}) from exc
    errors = {field: [str(m) for e in errs for m in e.messages] for field, errs in exc.error_dict.items()}
    if NON_FIELD_ERRORS in errors:
        errors["non_field_errors"] = errors.pop(NON_FIELD_ERRORS)
    raise ValidationError(errors) from exc


def request_member(request: Request) -> Member:
    return cast(Member, request.user)


# --- serializers --------------------------------------------------------------------------


class MemberSerializer(serializers.ModelSerializer[Member]):
    class Meta:
        model = Member
        fields = ["id", "phone", "email", "name", "date_joined", "last_login"]
        read_only_fields = fields


# Input serializers check presence and types only; the services check formats and lengths,
# so one answer lists every bad field at once (and the web forms get the same messages).


class RegisterSerializer(serializers.Serializer[Any]):
    phone = serializers.CharField(
        required=False, allow_blank=True, help_text="mainland mobile (11 digits) or +<country code and number>"
    )
    email = serializers.CharField(required=False, allow_blank=True, help_text="a phone number, an email, or both")
    password = serializers.CharField(
        write_only=True, allow_blank=True, trim_whitespace=False, style={"input_type": "password"}
    )
    name = serializers.CharField(required=False, allow_blank=True, help_text="nickname, at most 50 characters")
    device = serializers.CharField(required=False, allow_blank=True, max_length=64, help_text="names the token")


class LoginSerializer(serializers.Serializer[Any]):
    login = serializers.CharField(help_text="phone number or email address")
    password = serializers.CharField(write_only=True, trim_whitespace=False, style={"input_type": "password"})
    device = serializers.CharField(required=False, allow_blank=True, max_length=64, help_text="names the token")


class TokenResultSerializer(serializers.Serializer[Any]):
    token = serializers.CharField(help_text="send as 'Authorization: Bearer <token>'; shown only once")
    member = MemberSerializer()


class ProfileUpdateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(required=False, allow_blank=True, help_text="at most 50 characters")
    phone = serializers.CharField(required=False, allow_blank=True, help_text="empty to remove (an email must remain)")
    email = serializers.CharField(required=False, allow_blank=True, help_text="empty to remove (a phone must remain)")
    current_password = serializers.CharField(
        required=False, allow_blank=True, trim_whitespace=False, help_text="needed to change phone or email"
    )


class PasswordChangeSerializer(serializers.Serializer[Any]):
    old_password = serializers.CharField(trim_whitespace=False)
    new_password = serializers.CharField(trim_whitespace=False)


class AddressSerializer(serializers.ModelSerializer[Address]):
    class Meta:
        model = Address
        fields = [
            "id",
            "recipient",
            "phone",
            "province",
            "city",
            "district",
            "detail",
            "postal_code",
            "is_default",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AddressWriteSerializer(serializers.Serializer[Any]):
    recipient = serializers.CharField(allow_blank=True, help_text="at most 30 characters")
    phone = serializers.CharField(
        allow_blank=True, help_text="mainland mobile (11 digits) or +<country code and number>"
    )
    province = serializers.CharField(allow_blank=True, help_text="at most 30 characters")
    city = serializers.CharField(allow_blank=True, help_text="at most 30 characters")
    district = serializers.CharField(allow_blank=True, help_text="at most 30 characters")
    detail = serializers.CharField(allow_blank=True, help_text="street address, at most 120 characters")
    postal_code = serializers.CharField(required=False, allow_blank=True, help_text="6 digits, optional")
    is_default = serializers.BooleanField(
        required=False, help_text="make it the default; a member's first address is the default"
    )


def _valid(serializer_class: type[serializers.Serializer[Any]], request: Request, **kwargs: Any) -> dict[str, Any]:
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _token_result(token_key: str, member: Member) -> dict[str, Any]:
    return {"token": token_key, "member": MemberSerializer(member).data}


# --- accounts -----------------------------------------------------------------------------


@method_decorator(rate_limit("member-register", "LOGIN_RATE_LIMIT"), name="dispatch")
class RegisterAPI(ShopAPIView):
    """Register with a phone number or an email address (or both) and a password; the
    answer carries a token, so the client is logged in at once."""

    authentication_classes: list[Any] = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(request=RegisterSerializer, responses={201: TokenResultSerializer}, tags=TAGS)
    def post(self, request: Request) -> Response:
        data = _valid(RegisterSerializer, request)
        device = data.pop("device", "")
        try:
            member = services.member_register(**data)
        except DjangoValidationError as exc:
            raise_drf(exc)
        _token, key = services.member_token_login(request._request, member, device=device)
        return Response(_token_result(key, member), status=status.HTTP_201_CREATED)


@method_decorator(rate_limit("member-login", "LOGIN_RATE_LIMIT"), name="dispatch")
class LoginAPI(ShopAPIView):
    """Exchange a phone number or email and the password for a new token."""

    authentication_classes: list[Any] = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(request=LoginSerializer, responses={200: TokenResultSerializer}, tags=TAGS)
    def post(self, request: Request) -> Response:
        data = _valid(LoginSerializer, request)
        try:
            member = services.member_authenticate(data["login"], data["password"])
        except DjangoValidationError as exc:
            raise_drf(exc)
        _token, key = services.member_token_login(request._request, member, device=data.get("device", ""))
        return Response(_token_result(key, member))


class MemberAPIView(ShopAPIView):
    authentication_classes = MEMBER_AUTHENTICATION
    permission_classes = [IsMember]


class LogoutAPI(MemberAPIView):
    """Revoke the token this request was made with (or end the storefront session)."""

    @extend_schema(request=None, responses={204: None}, tags=TAGS)
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, MemberToken):
            services.token_revoke(request.auth)
        else:
            services.member_logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeAPI(MemberAPIView):
    @extend_schema(responses={200: MemberSerializer}, tags=TAGS)
    def get(self, request: Request) -> Response:
        return Response(MemberSerializer(request_member(request)).data)

    @extend_schema(request=ProfileUpdateSerializer, responses={200: MemberSerializer}, tags=TAGS)
    def patch(self, request: Request) -> Response:
        data = _valid(ProfileUpdateSerializer, request)
        try:
            member = services.member_update_profile(request_member(request), **data)
        except DjangoValidationError as exc:
            raise_drf(exc)
        return Response(MemberSerializer(member).data)


class PasswordAPI(MemberAPIView):
    """Change the password. Every other token of the member is revoked; the one used for
    this request stays valid."""

    @extend_schema(request=PasswordChangeSerializer, responses={204: None}, tags=TAGS)
    def post(self, request: Request) -> Response:
        data = _valid(PasswordChangeSerializer, request)
        try:
            services.member_change_password(
                request_member(request),
                old_password=data["old_password"],
                new_password=data["new_password"],
                request=request._request,
                keep_token=request.auth if isinstance(request.auth, MemberToken) else None,
            )
        except DjangoValidationError as exc:
            raise_drf(exc)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- addresses ----------------------------------------------------------------------------


@extend_schema(tags=TAGS)
class AddressViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ShopViewSet):
    """The member's own addresses (another member's id is a 404). At most 20; at most one
    default, and deleting the default makes the most recent remaining address the default."""

    authentication_classes = MEMBER_AUTHENTICATION
    permission_classes = [IsMember]
    serializer_class = AddressSerializer
    queryset = Address.objects.none()  # for the schema generator; get_queryset scopes it

    def get_queryset(self) -> Any:
        return selectors.address_list(request_member(self.request))

    def get_object(self) -> Address:
        return selectors.address_get(request_member(self.request), int(self.kwargs["pk"]))

    @extend_schema(request=AddressWriteSerializer, responses={201: AddressSerializer})
    def create(self, request: Request) -> Response:
        data = _valid(AddressWriteSerializer, request)
        try:
            address = services.address_create(request_member(request), **data)
        except DjangoValidationError as exc:
            raise_drf(exc)
        return Response(AddressSerializer(address).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=AddressWriteSerializer, responses={200: AddressSerializer})
    def partial_update(self, request: Request, pk: int) -> Response:
        address = self.get_object()
        data = _valid(AddressWriteSerializer, request, partial=True)
        try:
            address = services.address_update(address, **data)
        except DjangoValidationError as exc:
            raise_drf(exc)
        return Response(AddressSerializer(address).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: int) -> Response:
        services.address_delete(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: AddressSerializer})
    def set_default(self, request: Request, pk: int) -> Response:
        address = services.address_set_default(self.get_object())
        return Response(AddressSerializer(address).data)
