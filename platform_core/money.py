"""Money is integer minor units (fen, cents). Formatting for display lives here."""

from __future__ import annotations

SYMBOLS = {"CNY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "HKD": "HK$", "JPY": "¥"}
ZERO_DECIMAL = {"JPY", "KRW"}


def format_money(amount: int, currency: str = "CNY") -> str:
    """``9900, "cny"`` → ``¥99.00``; negative amounts keep their sign."""
    code = (currency or "CNY").upper()
    symbol = SYMBOLS.get(code, code + " ")
    sign = "-" if amount < 0 else ""
    amount = abs(int(amount))
    if code in ZERO_DECIMAL:
        return f"{sign}{symbol}{amount:,}"
    return f"{sign}{symbol}{amount // 100:,}.{amount % 100:02d}"
