"""Reads: the distributor centre (``centre_summary``, ``product_share``), rankings, the
merchant's overview, and compliance and fraud flags.

* ``self_referral`` — a buyer bound to a distributor who looks like the same person:
  the same device id on their visits, or a delivery address with the same phone number
  or the same street address;
* ``binding_velocity`` — a distributor gaining bindings faster than ``velocity_limit``
  per hour (bought traffic, scripted sign-ups);
* ``refund_after_settlement`` — distributors whose settled commission keeps being clawed
  back (at least ``clawback_limit`` lines), or who owe clawback debt.

Each flag names the distributor, the kind, and the evidence; nothing is blocked
automatically — the merchant decides (freeze, ban, re-bind)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, F, Sum
from django.utils import timezone


def _rows(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def fraud_flags(
    now: datetime | None = None, *, velocity_limit: int = 30, clawback_limit: int = 2
) -> list[dict[str, Any]]:
    now = now or timezone.now()
    flags: list[dict[str, Any]] = []
    for distributor_id, member_id, device in _rows(
        "SELECT DISTINCT b.distributor_id, b.member_id, v1.device_id FROM distribution_binding b "
        "JOIN distribution_distributor d ON d.id = b.distributor_id "
        "JOIN distribution_visit v1 ON v1.member_id = b.member_id "
        "JOIN distribution_visit v2 ON v2.member_id = d.member_id AND v2.device_id = v1.device_id "
        "LIMIT 500",
        [],
    ):
        flags.append(
            {
                "kind": "self_referral",
                "distributor": distributor_id,
                "member": member_id,
                "evidence": {"device": device},
            }
        )
    for distributor_id, member_id, same_phone in _rows(
        "SELECT DISTINCT b.distributor_id, b.member_id, a1.phone = a2.phone FROM distribution_binding b "
        "JOIN distribution_distributor d ON d.id = b.distributor_id "
        "JOIN members_address a1 ON a1.member_id = b.member_id "
        "JOIN members_address a2 ON a2.member_id = d.member_id "
        "WHERE a1.phone = a2.phone OR (a1.province = a2.province AND a1.city = a2.city "
        "AND a1.district = a2.district AND a1.detail = a2.detail) LIMIT 500",
        [],
    ):
        flags.append(
            {
                "kind": "self_referral",
                "distributor": distributor_id,
                "member": member_id,
                "evidence": {"same": "phone" if same_phone else "address"},
            }
        )
    for distributor_id, count in _rows(
        "SELECT to_distributor_id, count(*) FROM distribution_bindingevent WHERE at >= %s AND to_distributor_id "
        "IS NOT NULL GROUP BY to_distributor_id HAVING count(*) > %s",
        [now - timedelta(hours=1), velocity_limit],
    ):
        flags.append(
            {"kind": "binding_velocity", "distributor": distributor_id, "evidence": {"bindings_last_hour": count}}
        )
    for distributor_id, lines, debt in _rows(
        "WITH clawed AS (SELECT distributor_id, count(*) AS n FROM distribution_commissionline "
        "WHERE clawed_back > 0 GROUP BY distributor_id), "
        "owed AS (SELECT distributor_id, -balance AS debt FROM distribution_ledgeraccount "
        "WHERE kind = 'clawback_debt' AND balance < 0) "
        "SELECT coalesce(c.distributor_id, o.distributor_id), coalesce(c.n, 0), coalesce(o.debt, 0) "
        "FROM clawed c FULL OUTER JOIN owed o ON o.distributor_id = c.distributor_id "
        "WHERE coalesce(c.n, 0) >= %s OR coalesce(o.debt, 0) > 0",
        [clawback_limit],
    ):
        flags.append(
            {
                "kind": "refund_after_settlement",
                "distributor": distributor_id,
                "evidence": {"clawed_back_lines": lines, "debt": int(debt)},
            }
        )
    return flags


# --- the distributor centre (storefront) --------------------------------------------------
# Everything below returns plain dicts and lists: the storefront's Liquid templates read
# mappings only. Money stays integer fen (the theme's ``money`` filter formats it).

RECENT = 20


def _when(value: datetime | None) -> str:
    if value is None:
        return ""
    from django.utils.formats import date_format

    return date_format(timezone.localtime(value), "Y-m-d H:i")


def _percent(bp: int | None) -> str:
    value = int(bp or 0)
    whole, rest = divmod(value, 100)
    return f"{whole}%" if not rest else f"{whole}.{rest:02d}".rstrip("0") + "%"


def mask_name(name: str) -> str:
    """A name shown to other members (rankings): its first character, then stars."""
    name = (name or "").strip()
    return f"{name[:1]}**" if name else "**"


def line_explanation(line: Any) -> str:
    """ "Why did I get ¥3.20", in one sentence: level, rate or fixed amount, base, where
    the rate came from, the grade, and what refunds took back."""
    from django.utils.translation import gettext as _

    from platform_core.money import format_money

    if line.self_purchase:
        who = _("Own purchase")
    else:
        who = _("Level %(level)s") % {"level": line.level}
    if line.fixed_amount is not None:
        how = _("%(amount)s × %(quantity)s") % {"amount": format_money(line.fixed_amount), "quantity": line.quantity}
    else:
        how = _("%(rate)s of %(base)s paid") % {"rate": _percent(line.rate_bp), "base": format_money(line.base)}
    parts = [who, how, str(line.RateSource(line.rate_source).label)]
    if line.grade_name:
        parts.append(_("grade %(grade)s") % {"grade": line.grade_name})
    if line.capped_from is not None:
        parts.append(
            _("capped: all levels together earn at most %(cap)s of the paid amount (the rule gave %(rule)s)")
            % {"cap": _percent(line.cap_bp), "rule": format_money(line.capped_from)}
        )
    taken = line.reversed_amount + line.clawed_back
    if taken:
        parts.append(_("%(amount)s taken back after a refund") % {"amount": format_money(taken)})
    return " · ".join(parts)


def _settings_words(settings: Any) -> dict[str, str]:
    """The shop's own words (推广大使 for 分销员 …); ``*_title`` starts with a capital, for
    headings in languages that have them."""
    words = {"distributor": settings.distributor_label, "commission": settings.commission_label}
    return {**words, **{f"{k}_title": v[:1].upper() + v[1:] for k, v in words.items()}}


def _join_hint(settings: Any) -> str:
    from django.utils.translation import gettext as _

    from platform_core.money import format_money

    Q_ = settings.Qualification
    word = settings.distributor_label
    hints = {
        Q_.ON_REGISTRATION: _("Every member becomes a %(word)s: log out and in again if you are not one yet."),
        Q_.AFTER_FIRST_PAID_ORDER: _("You become a %(word)s automatically after your first paid order."),
        Q_.AFTER_SPENDING: _("You become a %(word)s automatically once you have spent %(amount)s."),
        Q_.INVITATION_ONLY: _("Joining is by invitation: enter the invite code of a %(word)s."),
        Q_.APPLY_REVIEW: _("Apply below; the shop reviews every application."),
    }
    text = hints.get(settings.qualification, "")
    return str(text) % {"word": word, "amount": format_money(settings.spending_threshold)}


def _referrer(member: Any) -> dict[str, Any] | None:
    from distribution import services

    binding = services.valid_binding(member)
    if binding is None:
        return None
    d = binding.distributor
    return {
        "name": d.member.display_name,
        "code": d.code,
        "source": str(binding.get_source_display()),
        "since": _when(binding.since),
        "expires": _when(binding.expires_at),
    }


def team_by_level(distributor: Any, levels: int) -> list[dict[str, Any]]:
    """Team members by level below ``distributor`` with their size and their sales (what
    the buyers they brought in paid, net of refunds): one walk down ``levels`` steps."""
    from distribution import services

    found = services.team_levels(distributor, levels)
    return [
        {"level": n, "size": found.get(n, (0, 0))[0], "sales": found.get(n, (0, 0))[1]} for n in range(1, levels + 1)
    ]


def own_sales(distributor: Any) -> int:
    rows = _rows("SELECT own_sales FROM distribution_distributor WHERE id = %s", [distributor.pk])
    return int(rows[0][0]) if rows else 0


def rankings(since: datetime | None = None, until: datetime | None = None, *, limit: int = 10) -> list[dict[str, Any]]:
    """Top distributors by sales brought in (level-1 commission bases, net of refunds) of
    orders paid in ``[since, until)``, best first: rank, distributor, name, code, sales,
    orders and commission earned."""
    from distribution.models import Distributor

    where, params = ["c.level = 1"], []
    if since is not None:
        where.append("c.created_at >= %s")
        params.append(since)
    if until is not None:
        where.append("c.created_at < %s")
        params.append(until)
    rows = _rows(
        "SELECT c.distributor_id, sum(c.base - c.refunded_base) AS sales, count(DISTINCT c.order_id), "
        "sum(c.amount - c.reversed_amount - c.clawed_back) "
        f"FROM distribution_commissionline c WHERE {' AND '.join(where)} "  # noqa: S608 - fixed fragments
        "GROUP BY c.distributor_id HAVING sum(c.base - c.refunded_base) > 0 ORDER BY sales DESC, c.distributor_id "
        "LIMIT %s",
        [*params, max(1, min(int(limit), 100))],
    )
    found = Distributor.objects.select_related("member").in_bulk([r[0] for r in rows])
    out = []
    for rank, (pk, sales, orders, earned) in enumerate(rows, start=1):
        d = found.get(pk)
        out.append(
            {
                "rank": rank,
                "distributor": pk,
                "name": d.member.display_name if d else "",
                "code": d.code if d else "",
                "status": d.status if d else "",
                "sales": int(sales),
                "orders": int(orders),
                "commission": int(earned),
            }
        )
    return out


def period_start(period: str, now: datetime | None = None) -> datetime | None:
    """``week`` / ``month`` (calendar, in the shop's time zone), ``30d``, ``all`` (None)."""
    from datetime import timedelta as _td

    now = timezone.localtime(now or timezone.now())
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        return midnight - _td(days=midnight.weekday())
    if period == "month":
        return midnight.replace(day=1)
    if period == "30d":
        return now - _td(days=30)
    return None


PERIODS = ("month", "week", "30d", "all")


def _withdrawal_steps(w: Any) -> list[dict[str, Any]]:
    from distribution.models import Withdrawal

    W = Withdrawal.Status
    if w.status in (W.REJECTED, W.FAILED):
        reached = [W.REQUESTED, W.APPROVED, w.status] if w.status == W.FAILED else [W.REQUESTED, w.status]
    else:
        reached = [W.REQUESTED, W.APPROVED, W.PAID]
    order = {W.REQUESTED: 0, W.APPROVED: 1, W.PAYING: 1, W.PAID: 2, W.REJECTED: 1, W.FAILED: 2}
    at = order[w.status]
    return [{"key": s, "label": str(W(s).label), "done": order[s] <= at, "current": s == w.status} for s in reached]


def withdrawal_row(w: Any) -> dict[str, Any]:
    return {
        "id": w.pk,
        "amount": w.amount,
        "fee": w.fee,
        "net": w.net,
        "method": w.method,
        "method_label": str(w.get_method_display()),
        "status": w.status,
        "status_label": str(w.get_status_display()),
        "open": w.status in ("requested", "approved"),
        "reason": w.reason,
        "reference": w.reference,
        "created": _when(w.created_at),
        "updated": _when(w.updated_at),
        "steps": _withdrawal_steps(w),
    }


def withdrawal_methods(settings: Any) -> list[dict[str, str]]:
    from distribution.models import Withdrawal
    from platform_core.stripe_gateway import stripe_enabled

    return [
        {"key": m, "label": str(Withdrawal.Method(m).label)}
        for m in settings.withdrawal_methods
        if m in Withdrawal.Method.values and (m != Withdrawal.Method.STRIPE_CONNECT or stripe_enabled())
    ]


def share_data(distributor: Any, *, host: str, scheme: str = "https", product_id: int | None = None) -> dict[str, Any]:
    """The share link (for copying), and where its QR code and poster are served."""
    from distribution import materials

    link = ""
    if host:
        try:
            link = materials.share_url(host, code=distributor.code, product_id=product_id, scheme=scheme)
        except materials.MaterialError:
            link = ""
    base = "/api/v1/distribution/materials/"
    if product_id is None:
        return {"code": distributor.code, "link": link, "qr": f"{base}qr.png", "poster": ""}
    return {
        "code": distributor.code,
        "link": link,
        "qr": f"{base}products/{product_id}/qr.png",
        "poster": f"{base}products/{product_id}/poster.png",
    }


def centre_summary(
    member: Any, *, host: str = "", scheme: str = "https", now: datetime | None = None
) -> dict[str, Any]:
    """Everything the storefront's distributor centre shows ``member``, as plain data: the
    shop's own words, the member's status, the application form (when they may apply),
    earnings by ledger account, recent commission lines with their explanation, team by
    level, orders brought in, "my referrer", the share link, withdrawals with their
    progress and the request form, and this month's ranking."""
    from distribution import ledger
    from distribution.models import Account, CommissionLine, DistributionSettings, Distributor, Withdrawal
    from platform_core.money import format_money

    settings = DistributionSettings.current()
    Q_ = DistributionSettings.Qualification
    me = Distributor.objects.select_related("grade").filter(member=member).first()
    out: dict[str, Any] = {
        "enabled": settings.enabled,
        "words": _settings_words(settings),
        "status": me.status if me else "",
        "status_label": str(me.get_status_display()) if me else "",
        "active": bool(me and me.is_active),
        "apply": None,
        "join_hint": "",
        "referrer": _referrer(member) if settings.enabled else None,
    }
    if not settings.enabled:
        return out
    may_apply = settings.qualification in (Q_.APPLY_REVIEW, Q_.INVITATION_ONLY)
    if me is None or me.status == Distributor.Status.REJECTED:
        out["join_hint"] = _join_hint(settings)
        if may_apply:
            out["apply"] = {
                "fields": [{**f, "mandatory": bool(f.get("required"))} for f in settings.application_fields],
                "agreement": settings.agreement_text,
                "invite_required": settings.qualification == Q_.INVITATION_ONLY,
            }
    if me is None:
        return out
    balances = ledger.balances(me.pk)
    out.update(
        {
            "code": me.code,
            "grade": me.grade.name if me.grade_id and me.grade else "",
            "joined": _when(me.joined_at),
            "earnings": {
                "pending": balances[Account.PENDING],
                "available": balances[Account.AVAILABLE],
                "withdrawing": balances[Account.WITHDRAWING],
                "paid_out": balances[Account.PAID_OUT],
                "clawback_debt": -balances[Account.CLAWBACK_DEBT],
            },
        }
    )
    if me.status == Distributor.Status.PENDING or me.status == Distributor.Status.REJECTED:
        return out
    lines = CommissionLine.objects.filter(distributor=me).select_related("order", "order_line")[:RECENT]
    out["lines"] = [
        {
            "id": line.pk,
            "order": line.order.number,
            "product": line.order_line.product_name,
            "amount": line.amount,
            "net": line.net,
            "status": line.status,
            "status_label": str(line.get_status_display()),
            "level": line.level,
            "explanation": line_explanation(line),
            "created": _when(line.created_at),
        }
        for line in lines
    ]
    levels = max(1, min(int(settings.levels), 3))
    out["team"] = team_by_level(me, levels)
    out["own_sales"] = own_sales(me)
    orders = (
        CommissionLine.objects.filter(distributor=me)
        .values("order_id", "order__number", "order__created_at", "order__status")
        .annotate(commission=Sum("amount"), taken_back=Sum(F("reversed_amount") + F("clawed_back")))
        .order_by("-order_id")[:RECENT]
    )
    from shop.orders.models import Order

    out["orders"] = [
        {
            "number": row["order__number"],
            "created": _when(row["order__created_at"]),
            "status_label": str(Order.Status(row["order__status"]).label)
            if row["order__status"] in Order.Status.values
            else row["order__status"],
            "commission": int(row["commission"]),
            "net": int(row["commission"] - row["taken_back"]),
        }
        for row in orders
    ]
    out["share"] = share_data(me, host=host, scheme=scheme) if me.is_active else None
    recent = list(Withdrawal.objects.filter(distributor=me)[:10])
    out["withdrawals"] = [withdrawal_row(w) for w in recent]
    has_open = any(
        w.status in (Withdrawal.Status.REQUESTED, Withdrawal.Status.APPROVED, Withdrawal.Status.PAYING) for w in recent
    )
    out["withdraw"] = {
        "methods": withdrawal_methods(settings),
        "minimum": settings.withdrawal_minimum,
        "minimum_text": format_money(settings.withdrawal_minimum),
        "fee": _percent(settings.withdrawal_fee_bp) if settings.withdrawal_fee_bp else "",
        "daily_cap": settings.withdrawal_daily_cap,
        "open": has_open,
        "active": me.is_active,
        "can_request": me.is_active and not has_open and balances[Account.AVAILABLE] >= settings.withdrawal_minimum,
    }
    top = rankings(period_start("month", now), limit=10)
    out["ranking"] = [
        {
            "rank": r["rank"],
            "name": r["name"] if r["distributor"] == me.pk else mask_name(r["name"]),
            "sales": r["sales"],
            "me": r["distributor"] == me.pk,
        }
        for r in top
    ]
    out["my_rank"] = next((r["rank"] for r in top if r["distributor"] == me.pk), None)
    return out


def product_share(member: Any, product: Any, *, host: str = "", scheme: str = "https") -> dict[str, Any] | None:
    """What a product page shows about distribution: the commission preview ("earn ¥x",
    to whom the shop chose) and, for an active distributor, their share link, QR and
    poster. None when there is nothing to show."""
    from distribution import commission
    from distribution.models import DistributionSettings, Distributor

    settings = DistributionSettings.current()
    if not settings.enabled:
        return None
    me = (
        Distributor.objects.select_related("grade").filter(member=member, status=Distributor.Status.ACTIVE).first()
        if member is not None
        else None
    )
    audience = settings.preview_audience
    P = DistributionSettings.Preview
    earn = None
    if audience == P.EVERYONE or (audience == P.DISTRIBUTORS and me is not None):
        amounts = [row["commission"] for row in commission.preview(product, me)]
        if amounts and max(amounts) > 0:
            low, high = min(amounts), max(amounts)
            earn = {"low": low, "high": high, "varies": low != high}
    if earn is None and me is None:
        return None
    return {
        "words": _settings_words(settings),
        "earn": earn,
        "share": share_data(me, host=host, scheme=scheme, product_id=product.pk) if me is not None else None,
    }


# --- the merchant's overview ------------------------------------------------------------------


def overview(since: datetime | None = None) -> dict[str, Any]:
    """The distribution overview for the merchant: GMV brought in by distributors (what
    their buyers paid for goods, net of refunds) in the period, commission by state (from
    the ledger), distributors by status, top distributors and the number of flags."""
    from distribution.models import Account, Distributor, LedgerAccount

    where, params = ["c.level = 1"], []
    if since is not None:
        where.append("c.created_at >= %s")
        params.append(since)
    gmv_row = _rows(
        "SELECT coalesce(sum(c.base - c.refunded_base), 0), count(DISTINCT c.order_id), "
        "coalesce(sum(c.amount - c.reversed_amount - c.clawed_back), 0) "
        f"FROM distribution_commissionline c WHERE {' AND '.join(where)}",  # noqa: S608 - fixed fragments
        params,
    )
    gmv, orders, level1 = gmv_row[0] if gmv_row else (0, 0, 0)
    totals = dict(
        LedgerAccount.objects.filter(distributor__isnull=False)
        .values_list("kind")
        .annotate(total=Sum("balance"))
        .values_list("kind", "total")
    )
    statuses = dict(Distributor.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return {
        "gmv": int(gmv),
        "orders": int(orders),
        "level1_commission": int(level1),
        "commission": {
            "pending": int(totals.get(Account.PENDING, 0) or 0),
            "available": int(totals.get(Account.AVAILABLE, 0) or 0),
            "withdrawing": int(totals.get(Account.WITHDRAWING, 0) or 0),
            "paid_out": int(totals.get(Account.PAID_OUT, 0) or 0),
            "clawback_debt": -int(totals.get(Account.CLAWBACK_DEBT, 0) or 0),
        },
        "distributors": {s: int(statuses.get(s, 0)) for s in Distributor.Status.values},
        "top": rankings(since, limit=10),
        "flags": len(fraud_flags()),
    }


def commission_lines(params: Any) -> Any:
    """Commission lines for the merchant, newest first, filtered by ``distributor`` (id or
    invite code), ``status``, ``level``, ``order`` (number) and ``since``/``until``
    (YYYY-MM-DD, the shop's dates). Unknown values filter nothing out silently: a bad
    date or id gives no rows rather than all."""
    from datetime import date

    from distribution.models import CommissionLine
    from platform_core.parsing import as_id

    found = CommissionLine.objects.select_related("distributor__member", "order", "order_line").order_by("-id")
    distributor = str(params.get("distributor") or "").strip()
    if distributor:
        pk = as_id(distributor)
        found = found.filter(distributor_id=pk) if pk else found.filter(distributor__code=distributor.upper())
    status = str(params.get("status") or "")
    if status in CommissionLine.Status.values:
        found = found.filter(status=status)
    level = str(params.get("level") or "")
    if level in ("1", "2", "3"):
        found = found.filter(level=int(level))
    order = str(params.get("order") or "").strip()
    if order:
        found = found.filter(order__number=order)
    for key, lookup in (("since", "created_at__date__gte"), ("until", "created_at__date__lte")):
        text = str(params.get(key) or "").strip()
        if text:
            try:
                found = found.filter(**{lookup: date.fromisoformat(text)})
            except ValueError:
                found = found.none()
    return found
