"""Reads of the members domain. A member's addresses are only ever read through these,
so another member's address id is simply not found."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from shop.members.models import Address, Member


def address_list(member: Member) -> QuerySet[Address]:
    return Address.objects.filter(member=member).order_by("-is_default", "-created_at", "-id")


def address_get(member: Member, pk: int) -> Address:
    """The member's address ``pk``; 404 when it is someone else's or does not exist."""
    address = get_object_or_404(address_list(member), pk=pk)
    address.member = member
    return address


def default_address(member: Member) -> Address | None:
    return Address.objects.filter(member=member, is_default=True).first()
