"""Money: integer amounts in a currency's minor unit, plus a lower-case ISO 4217 code.

Never floats. `format_amount` is the one place that turns minor units into text for people.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

from bookpay_shared.text import json_integer

# Currencies Stripe can charge in, lower case.
SUPPORTED_CURRENCIES: frozenset[str] = frozenset(
    """
    aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd bwp byn bzd
    cad cdf chf clp cny cop crc cve czk djf dkk dop dzd egp etb eur fjd fkp gbp gel gip gmd gnf gtq
    gyd hkd hnl htg huf idr ils inr isk jmd jod jpy kes kgs khr kmf krw kwd kyd kzt lak lbp lkr lrd
    lsl mad mdl mga mkd mmk mnt mop mur mvr mwk mxn myr mzn nad ngn nio nok npr nzd omr pab pen pgk
    php pkr pln pyg qar ron rsd rub rwf sar sbd scr sek sgd shp sle sos srd std szl thb tjs tnd top
    try ttd twd tzs uah ugx usd uyu uzs vnd vuv wst xaf xcd xof xpf yer zar zmw
    """.split()
)

ZERO_DECIMAL_CURRENCIES: frozenset[str] = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)
THREE_DECIMAL_CURRENCIES: frozenset[str] = frozenset("bhd jod kwd omr tnd".split())

_SYMBOLS = {
    "usd": "$",
    "cad": "CA$",
    "aud": "A$",
    "eur": "€",
    "gbp": "£",
    "jpy": "¥",
    "chf": "CHF ",
}


def minor_unit_exponent(currency: str) -> int:
    """How many decimal places the currency's minor unit has (0 for JPY, 2 for USD)."""
    if currency in ZERO_DECIMAL_CURRENCIES:
        return 0
    if currency in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


def _check_currency(value: str) -> str:
    if value not in SUPPORTED_CURRENCIES:
        raise ValueError(
            f"unknown or unsupported currency {value!r}: use a lower-case ISO 4217 code"
        )
    return value


Currency = Annotated[
    str,
    Field(min_length=3, max_length=3, json_schema_extra={"enum": sorted(SUPPORTED_CURRENCIES)}),
    AfterValidator(_check_currency),
]
"""A lower-case ISO 4217 currency code that Stripe supports."""

PositiveAmount = Annotated[int, BeforeValidator(json_integer), Field(gt=0, le=99_999_999_999)]
"""An amount in minor units, greater than zero, as a JSON integer: 10.5 or "10" are refused,
not coerced (10.0 is 10, as JSON Schema has it)."""


def format_amount(amount: int, currency: str) -> str:
    """Format minor units for people: format_amount(12345, "usd") == "$123.45"."""
    exponent = minor_unit_exponent(currency)
    major, minor = divmod(abs(amount), 10**exponent) if exponent else (abs(amount), 0)
    number = f"{major:,}" + (f".{minor:0{exponent}d}" if exponent else "")
    sign = "-" if amount < 0 else ""
    symbol = _SYMBOLS.get(currency)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {currency.upper()}"
