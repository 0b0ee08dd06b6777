"""Distributors, the referral tree and binding: every write, each in one transaction.

The tree: ``parent`` plus ``path`` (ltree of ids from the root). A distributor's parent is
the distributor the member was bound to when they became one; afterwards only the
merchant moves them (``member_rebind``), which moves the whole subtree's paths in one
UPDATE. Guards: never bound to oneself, never to one's own downline, the new parent
must be active.

Binding: ``Binding`` is who owns a buyer now; every change appends a ``BindingEvent``
(source, evidence, actor). First-touch keeps a valid binding; last-touch replaces it.
An expired binding (validity N days) no longer counts. Members who are distributors
already are not re-bound by links (their place in the tree is the merchant's to change).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from distribution.models import Binding, BindingEvent, BindingSource, DistributionSettings, Distributor, Grade, Visit

D = Distributor.Status
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
VISIT_DEDUPE = timedelta(minutes=10)


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _i in range(8))


def valid_binding(member: Any, now: datetime | None = None) -> Binding | None:
    now = now or timezone.now()
    binding = Binding.objects.select_related("distributor").filter(member=member).first()
    if binding is None or (binding.expires_at is not None and binding.expires_at <= now):
        return None
    return binding


def _tree_lock(*, shared: bool) -> None:
    """The tree's lock domain, for the transaction: a move (``member_rebind``) takes it
    alone; a new distributor shares it, so its path is built from its parent's current
    path (never from one a concurrent move is about to change)."""
    with connection.cursor() as cursor:
        if shared:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(hashtext('distribution-tree'))")
        else:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('distribution-tree'))")


def _create(member: Any, *, status: str, application: dict[str, Any] | None = None, actor: str) -> Distributor:
    """A new distributor for ``member`` whose parent is their bound distributor (if that
    one is active), with its path. Caller holds a transaction."""
    _tree_lock(shared=True)  # before the parent is read
    binding = valid_binding(member)
    parent = binding.distributor if binding and binding.distributor.is_active else None
    now = timezone.now()
    for _attempt in range(10):
        try:
            with transaction.atomic():
                made = Distributor.objects.create(
                    member=member,
                    status=status,
                    parent=parent,
                    code=_new_code(),
                    application=application or {},
                    agreement_accepted_at=now if application is not None else None,
                    joined_at=now if status == D.ACTIVE else None,
                )
            break
        except IntegrityError as exc:
            if Distributor.objects.filter(member=member).exists():
                raise ValidationError({"member": [_("Already a distributor or applying.")]}) from exc
    else:  # pragma: no cover - 32^8 codes
        raise RuntimeError("no free invite code")
    made.path = f"{parent.path}.{made.pk}" if parent else str(made.pk)
    Distributor.objects.filter(pk=made.pk).update(path=made.path)
    return made


def distributor_apply(member: Any, answers: Any, *, agreement_accepted: Any, invite_code: Any = None) -> Distributor:
    """A member applies (answers to the shop's form, agreement accepted). Reviewed by the
    merchant in ``apply_review`` mode; by invitation only needs an active distributor's code."""
    settings = DistributionSettings.current()
    errors: dict[str, list[str]] = {}
    if not settings.enabled:
        raise ValidationError({"non_field_errors": [_("Distribution is not open in this shop.")]})
    if settings.qualification not in (
        DistributionSettings.Qualification.APPLY_REVIEW,
        DistributionSettings.Qualification.INVITATION_ONLY,
    ):
        raise ValidationError({"non_field_errors": [_("This shop does not take applications.")]})
    answers = answers if isinstance(answers, dict) else {}
    clean: dict[str, str] = {}
    for field in settings.application_fields:
        value = answers.get(field["name"])
        value = value.strip() if isinstance(value, str) else ""
        if field["required"] and not value:
            errors[field["name"]] = [_("This field is required.")]
        elif len(value) > 200:
            errors[field["name"]] = [_("Use at most %(n)s characters.") % {"n": 200}]
        clean[field["name"]] = value
    if settings.agreement_text and agreement_accepted is not True:
        errors["agreement_accepted"] = [_("Accept the agreement to apply.")]
    inviter = None
    if settings.qualification == DistributionSettings.Qualification.INVITATION_ONLY:
        inviter = Distributor.objects.filter(code=str(invite_code or "").strip().upper(), status=D.ACTIVE).first()
        if inviter is None:
            errors["invite_code"] = [_("Enter the invite code of an active distributor.")]
        elif inviter.member_id == member.pk:
            errors["invite_code"] = [_("You cannot invite yourself.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        _tree_lock(shared=True)  # first (as ``member_rebind`` does), before the binding's row
        if Distributor.objects.filter(member=member).exclude(status=D.REJECTED).exists():
            raise ValidationError({"non_field_errors": [_("You are already a distributor or have applied.")]})
        Distributor.objects.filter(member=member, status=D.REJECTED).delete()
        if inviter is not None:  # an explicit invitation: the inviter becomes the parent, whatever the rule
            current = Binding.objects.select_for_update().filter(member=member).first()
            if current is None or current.distributor_id != inviter.pk:
                _write_binding(
                    member,
                    current,
                    inviter,
                    BindingSource.INVITE_CODE,
                    {"code": inviter.code},
                    _actor(member),
                    settings,
                    timezone.now(),
                )
        status = D.ACTIVE if inviter is not None else D.PENDING
        return _create(member, status=status, application=clean, actor=_actor(member))


def _actor(member: Any) -> str:
    return f"member:{member.pk}"


def distributor_qualify(member: Any, *, reason: str) -> Distributor | None:
    """An automatic qualification mode made ``member`` a distributor (idempotent)."""
    with transaction.atomic():
        existing = Distributor.objects.select_for_update().filter(member=member).first()
        if existing is not None:
            if existing.status == D.PENDING:
                return _set_status(existing, D.ACTIVE)
            return existing
        return _create(member, status=D.ACTIVE, actor=f"system:{reason}")


def _set_status(distributor: Distributor, status: str) -> Distributor:
    distributor.status = status
    fields = ["status"]
    if status == D.ACTIVE and distributor.joined_at is None:
        distributor.joined_at = timezone.now()
        fields.append("joined_at")
    distributor.save(update_fields=fields)
    return distributor


MOVES = {
    "approve": ({D.PENDING}, D.ACTIVE),
    "reject": ({D.PENDING}, D.REJECTED),
    "freeze": ({D.ACTIVE}, D.FROZEN),
    "unfreeze": ({D.FROZEN}, D.ACTIVE),
    "ban": ({D.ACTIVE, D.FROZEN, D.PENDING}, D.BANNED),
}


def distributor_action(distributor: Distributor, action: str, *, note: Any = "") -> Distributor:
    """The merchant approves, rejects, freezes, unfreezes or bans a distributor."""
    if action not in MOVES:
        raise ValidationError({"action": [_("Choose one of: %(choices)s.") % {"choices": ", ".join(MOVES)}]})
    note = str(note or "").strip()[:200]
    with transaction.atomic():
        locked = Distributor.objects.select_for_update().get(pk=distributor.pk)
        allowed, target = MOVES[action]
        if locked.status not in allowed:
            raise ValidationError(
                {"status": [_("Not possible while the distributor is: %(s)s.") % {"s": locked.get_status_display()}]}
            )
        if note:
            locked.note = note
            locked.save(update_fields=["note"])
        return _set_status(locked, target)


def distributor_set_grade(tenant: Any, distributor: Distributor, grade_id: Any) -> Distributor:
    from platform_core.features import require_feature
    from platform_core.parsing import as_id

    require_feature(tenant, "distributor_grades")
    grade = None
    if grade_id not in (None, ""):
        grade = Grade.objects.filter(pk=as_id(grade_id) or 0).first()
        if grade is None:
            raise ValidationError({"grade": [_("Choose one of the shop's grades.")]})
    with transaction.atomic():
        locked = Distributor.objects.select_for_update().get(pk=distributor.pk)
        locked.grade = grade
        locked.save(update_fields=["grade"])
    return locked


# --- binding ------------------------------------------------------------------------------


def _check_target(member: Any, distributor: Distributor) -> str | None:
    """Why ``member`` cannot be bound to ``distributor`` (None: they can)."""
    if distributor.status != D.ACTIVE:
        return _("The distributor is not active.")
    if distributor.member_id == member.pk:
        return _("A member cannot be bound to themselves.")
    own = Distributor.objects.filter(member=member).only("pk", "path").first()
    if own is not None and own.path:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT %s::ltree @> path FROM distribution_distributor WHERE id = %s", [own.path, distributor.pk]
            )
            row = cursor.fetchone()
        if row and row[0]:
            return _("A distributor cannot be bound to someone in their own team.")
    return None


def bind(
    member: Any,
    distributor: Distributor,
    *,
    source: str,
    evidence: dict[str, Any] | None = None,
    actor: str,
    at: datetime | None = None,
) -> Binding | None:
    """Apply the shop's binding rule: bind ``member`` to ``distributor`` unless first-touch
    keeps a valid binding, the member is a distributor already, or a guard refuses it.
    Returns the new binding, or None when nothing changed. Callable by other domains (the
    marketing coupon code uses source "coupon")."""
    settings = DistributionSettings.current()
    if not settings.enabled or source not in BindingSource.values:
        return None
    now = timezone.now()
    with transaction.atomic():
        current = Binding.objects.select_for_update().filter(member=member).first()
        if Distributor.objects.filter(member=member, status__in=[D.ACTIVE, D.FROZEN, D.PENDING]).exists():
            return None
        distributor = Distributor.objects.get(pk=distributor.pk)  # its status now, not the caller's copy
        if _check_target(member, distributor) is not None:
            return None
        valid = current is not None and (current.expires_at is None or current.expires_at > now)
        if valid and current is not None:
            if current.distributor_id == distributor.pk:
                return None
            if settings.attribution == DistributionSettings.Attribution.FIRST_TOUCH:
                return None
        return _write_binding(member, current, distributor, source, evidence or {}, actor, settings, now)


def _write_binding(
    member: Any,
    current: Binding | None,
    distributor: Distributor,
    source: str,
    evidence: dict[str, Any],
    actor: str,
    settings: DistributionSettings,
    now: datetime,
) -> Binding:
    expires = now + timedelta(days=settings.binding_days) if settings.binding_days else None
    before = current.distributor_id if current else None
    binding, _created = Binding.objects.update_or_create(
        member=member, defaults={"distributor": distributor, "source": source, "since": now, "expires_at": expires}
    )
    BindingEvent.objects.create(
        member=member,
        from_distributor_id=before,
        to_distributor=distributor,
        source=source,
        evidence=evidence,
        actor=actor,
    )
    return binding


def member_rebind(member: Any, distributor: Distributor, *, reason: Any, actor: str) -> Binding:
    """The merchant moves a member to another distributor, with a reason. A member who is
    a distributor moves with their whole team (their subtree's paths change in one UPDATE).
    Guards: not themselves, not into their own team, the new distributor must be active."""
    reason = str(reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("Say why the member is moved.")]})
    if len(reason) > 200:
        raise ValidationError({"reason": [_("Use at most %(n)s characters.") % {"n": 200}]})
    with transaction.atomic():
        # the tree is one lock domain: moves are rare, and two concurrent moves could
        # otherwise create a loop between them
        _tree_lock(shared=False)
        target = Distributor.objects.select_for_update().get(pk=distributor.pk)
        problem = _check_target(member, target)
        if problem:
            raise ValidationError({"distributor": [problem]})
        current = Binding.objects.select_for_update().filter(member=member).first()
        settings = DistributionSettings.current()
        binding = _write_binding(
            member, current, target, BindingSource.MERCHANT, {"reason": reason}, actor, settings, timezone.now()
        )
        own = Distributor.objects.select_for_update().filter(member=member).first()
        if own is not None:
            old_path, new_path = own.path, f"{target.path}.{own.pk}"
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE distribution_distributor SET path = CASE WHEN path = %s::ltree THEN %s::ltree "
                    "ELSE %s::ltree || subpath(path, nlevel(%s::ltree)) END WHERE path <@ %s::ltree",
                    [old_path, new_path, new_path, old_path, old_path],
                )
            Distributor.objects.filter(pk=own.pk).update(parent=target)
    return binding


def code_distributor(code: Any) -> Distributor | None:
    code = str(code or "").strip().upper()
    if not code or len(code) > 12:
        return None
    return Distributor.objects.filter(code=code, status=D.ACTIVE).first()


def visit_record(code: str, *, device_id: str, member: Any, source: str, path: str = "") -> Visit | None:
    """A click through a share link / QR / poster; binds at once when the shop binds on
    first visit and the visitor is logged in."""
    settings = DistributionSettings.current()
    if not settings.enabled:
        return None
    distributor = code_distributor(code)
    if distributor is None:
        return None
    if source not in Visit.Source.values:
        source = Visit.Source.LINK
    recent = Visit.objects.filter(
        device_id=device_id, distributor=distributor, at__gte=timezone.now() - VISIT_DEDUPE
    ).first()
    if recent is not None and (member is None or recent.member_id == getattr(member, "pk", None)):
        return recent  # a refresh of the same link: one visit
    visit = Visit.objects.create(
        code=distributor.code,
        distributor=distributor,
        device_id=device_id,
        member=member,
        source=source,
        path=path[:300],
    )
    if member is not None and settings.binding_trigger == DistributionSettings.Trigger.FIRST_VISIT:
        bind(member, distributor, source=source, evidence=_evidence(visit), actor=_actor(member))
    return visit


def _evidence(visit: Visit) -> dict[str, Any]:
    return {"visit": visit.pk, "device": visit.device_id, "at": visit.at.isoformat(), "path": visit.path}


def resolve_visits(
    member: Any, *, device_id: str = "", bind_now: bool = True, before: datetime | None = None
) -> Binding | None:
    """Attribute earlier visits (a guest's, by device) to ``member``; then, if
    ``bind_now``, bind by the shop's rule: the first (first-touch) or latest (last-touch)
    of the member's visits whose distributor may own them, within the binding validity."""
    settings = DistributionSettings.current()
    if not settings.enabled:
        return None
    if device_id:
        Visit.objects.filter(device_id=device_id, member__isnull=True).update(member=member)
    if not bind_now:
        return None
    now = timezone.now()
    visits = Visit.objects.filter(member=member).select_related("distributor")
    current = valid_binding(member, now)
    if current is not None:  # only what happened since the current binding may change it
        visits = visits.filter(at__gt=current.since)
    if before is not None:
        visits = visits.filter(at__lte=before)
    if settings.binding_days:
        visits = visits.filter(at__gte=now - timedelta(days=settings.binding_days))
    ordered = visits.order_by("at", "id") if settings.attribution == "first_touch" else visits.order_by("-at", "-id")
    for visit in ordered[:20]:
        if _check_target(member, visit.distributor) is None:
            return bind(member, visit.distributor, source=visit.source, evidence=_evidence(visit), actor="system")
    return None


def team_range(path: str) -> tuple[str, str]:
    """The btree range holding exactly ``path`` and its downline: labels are compared
    byte by byte, shorter first, so ``1.9`` < ``1.9.*`` < ``1.90`` and nothing else sorts
    between ``1.9`` and ``1.90`` (``0`` is the smallest label character)."""
    return path, path + "0"


def team_totals(distributor: Distributor) -> dict[str, int]:
    """Size and sales of ``distributor``'s whole downline (not counting itself): one
    index-only range scan of the path btree, whatever the tree's depth."""
    if not distributor.path:
        return {"size": 0, "sales": 0}
    low, high = team_range(distributor.path)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), coalesce(sum(own_sales), 0) FROM distribution_distributor "
            "WHERE path > %s::ltree AND path < %s::ltree",
            [low, high],
        )
        size, sales = cursor.fetchone() or (0, 0)
    return {"size": int(size), "sales": int(sales)}


TEAM_BY_LEVEL_SQL = (
    "WITH RECURSIVE team(id, lvl, sales) AS ("
    " SELECT id, 1, own_sales FROM distribution_distributor WHERE parent_id = %s"
    " UNION ALL SELECT d.id, t.lvl + 1, d.own_sales FROM distribution_distributor d"
    " JOIN team t ON d.parent_id = t.id WHERE t.lvl < %s"
    ") SELECT lvl, count(*), coalesce(sum(sales), 0) FROM team GROUP BY lvl ORDER BY lvl"
)


def team_levels(distributor: Distributor, max_level: int = 3) -> dict[int, tuple[int, int]]:
    """Per level below ``distributor`` (1..max_level): (members, sales). Walks parent ids
    down at most ``max_level`` steps — only the rows it returns are read."""
    with connection.cursor() as cursor:
        cursor.execute(TEAM_BY_LEVEL_SQL, [distributor.pk, max_level])
        return {int(level): (int(count), int(sales)) for level, count, sales in cursor.fetchall()}


def team_sizes(distributor: Distributor, max_level: int = 3) -> dict[int, int]:
    """Team members by level below ``distributor``."""
    return {level: size for level, (size, _sales) in team_levels(distributor, max_level).items()}
