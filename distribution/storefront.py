"""The distributor centre's forms on the storefront (plain HTML posts, no JavaScript):
apply to become a distributor, and request a withdrawal. Bad input is answered on the
centre's page with field messages (status 400); nothing is written then. The page itself
is ``shop.storefront.account.DistributorCentre``; these views post to the engine's services."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.translation import gettext as _

from distribution import services, withdrawals
from distribution.models import DistributionSettings, Distributor, Withdrawal
from shop.members.views import form_errors
from shop.storefront import drops
from shop.storefront.account import DistributorCentre
from shop.storefront.views import _price

CENTRE = "/account/distributor/"


class CentreForm(DistributorCentre):
    http_method_names = ["post", "options"]

    def refused(self, form: str, exc: ValidationError, data: dict[str, Any]) -> HttpResponse:
        errors = drops.errors_data(form_errors(exc))
        return self.centre_page({"errors": errors, "form": form, "data": data}, status=400)


class DistributorApply(CentreForm):
    def post(self, request: HttpRequest) -> HttpResponse:
        settings = DistributionSettings.current()
        answers = {f["name"]: request.POST.get(f"answer_{f['name']}", "")[:400] for f in settings.application_fields}
        invite_code = request.POST.get("invite_code", "")[:40]
        try:
            services.distributor_apply(
                self.member,
                answers,
                agreement_accepted=request.POST.get("agreement") == "1",
                invite_code=invite_code,
            )
        except ValidationError as exc:
            return self.refused("apply", exc, {"answers": answers, "invite_code": invite_code})
        return HttpResponseRedirect(CENTRE)


class DistributorWithdraw(CentreForm):
    def post(self, request: HttpRequest) -> HttpResponse:
        me = Distributor.objects.filter(member=self.member).first()
        data = {k: request.POST.get(k, "")[:60] for k in ("amount", "method", "account_number", "account_name")}
        data["stripe_account"] = request.POST.get("stripe_account", "")[:60]
        if me is None:
            return self.refused(
                "withdraw", ValidationError({"non_field_errors": [_("You are not a distributor.")]}), data
            )
        amount = _price(data["amount"])
        details: dict[str, str] = {}
        if data["method"] == Withdrawal.Method.BANK:
            details = {k: data[k].strip() for k in ("account_number", "account_name") if data[k].strip()}
        elif data["method"] == Withdrawal.Method.STRIPE_CONNECT:
            details = {"stripe_account": data["stripe_account"].strip()}
        try:
            withdrawals.withdrawal_request(me, {"amount": amount, "method": data["method"], "account_details": details})
        except ValidationError as exc:
            if amount is None:  # the service speaks of fen; the form takes yuan
                errors = dict(exc.message_dict) if hasattr(exc, "error_dict") else {}
                errors["amount"] = [_("Enter an amount in yuan, such as 12.50.")]
                exc = ValidationError(errors)
            return self.refused("withdraw", exc, data)
        return HttpResponseRedirect(CENTRE + "#withdraw")
