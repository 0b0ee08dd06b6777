"""A person's API tokens end when their access or their password changes.

Deactivating a staff member or setting a new password deletes every API token of that user
(in the current schema), so an old token never works again, not even after a reactivation.
Sessions follow Django's own rule: a password change invalidates the others (session hash).
A password hash upgraded at login (same password, new hasher) keeps the tokens."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from rest_framework.authtoken.models import Token


def revoke_tokens_on_credential_change(sender: Any, instance: Any, created: bool, raw: bool, **kwargs: Any) -> None:
    if created or raw:
        return
    # set_password() since the last save (a hash upgrade at login clears this before saving)
    password_set = getattr(instance, "_password", None) is not None
    if password_set or not instance.is_active:
        Token.objects.filter(user_id=instance.pk).delete()


def connect(user_model: Any) -> None:
    post_save.connect(revoke_tokens_on_credential_change, sender=user_model, dispatch_uid="accounts-revoke-tokens")
