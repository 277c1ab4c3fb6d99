"""booking-service's account bodies: what POST and PATCH /v1/accounts accept (the business's
details checked where they enter, by bookpay_shared.business's types) and what the account reads
as."""

from __future__ import annotations

import uuid
from dataclasses import asdict

from bookpay_shared.business import (
    DEFAULT_LOCALE,
    DEFAULT_TIME_ZONE,
    BrandColour,
    BusinessProfile,
    HttpsUrl,
    Locale,
    PhoneNumber,
    PolicyText,
    SenderName,
    TimeZoneName,
)
from bookpay_shared.text import Flag, Line
from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from booking_service.domain.model import Account, Admin


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AdminIn(Strict):
    name: Line = Field(min_length=1, max_length=200)
    email: EmailStr


def distinct_mailboxes(admins: list[AdminIn]) -> list[AdminIn]:
    """Administrators are mailboxes: the same address twice, in any case, is refused (it
    would get every email twice)."""
    seen: set[str] = set()
    for admin in admins:
        mailbox = admin.email.casefold()
        if mailbox in seen:
            raise ValueError(
                f"{admin.email} is listed twice (addresses are compared ignoring case)"
            )
        seen.add(mailbox)
    return admins


class BusinessIn(Strict):
    """What customers see of the business. Optional details are null when not set."""

    sender_name: SenderName | None = None
    reply_to: EmailStr | None = None
    contact_phone: PhoneNumber | None = None
    contact_email: EmailStr | None = None
    logo_url: HttpsUrl | None = None
    brand_colour: BrandColour | None = None
    policy_text: PolicyText | None = None


OPTIONAL_DETAILS = tuple(BusinessIn.model_fields)


class AccountIn(BusinessIn):
    name: Line = Field(min_length=1, max_length=200)
    admins: list[AdminIn] = Field(default_factory=list, max_length=50)
    notify_admins_on_link_payment: Flag = True
    send_receipts: Flag = True
    """Email the customer a receipt after each successful charge."""
    time_zone: TimeZoneName = DEFAULT_TIME_ZONE
    locale: Locale = DEFAULT_LOCALE

    @field_validator("admins")
    @classmethod
    def _one_per_mailbox(cls, admins: list[AdminIn]) -> list[AdminIn]:
        return distinct_mailboxes(admins)

    def business(self) -> BusinessProfile:
        return BusinessProfile(
            time_zone=self.time_zone,
            locale=self.locale,
            **{k: _plain(getattr(self, k)) for k in OPTIONAL_DETAILS},
        )


class AccountPatch(BusinessIn):
    """Only the fields sent change; a detail sent as null is cleared."""

    name: Line | None = Field(default=None, min_length=1, max_length=200)
    admins: list[AdminIn] | None = Field(default=None, max_length=50)
    notify_admins_on_link_payment: Flag | None = None
    send_receipts: Flag | None = None
    time_zone: TimeZoneName | None = None
    locale: Locale | None = None

    @field_validator("admins")
    @classmethod
    def _one_per_mailbox(cls, admins: list[AdminIn] | None) -> list[AdminIn] | None:
        return None if admins is None else distinct_mailboxes(admins)

    @field_validator("time_zone", "locale", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null; send the value wanted (e.g. 'UTC', 'en-US')")
        return value

    def business_changes(self) -> dict[str, object]:
        sent = self.model_fields_set & {"time_zone", "locale", *OPTIONAL_DETAILS}
        return {k: _plain(getattr(self, k)) for k in sent}


def _plain(value: object) -> str | None:
    return None if value is None else str(value)


class AccountOut(BaseModel):
    account_id: uuid.UUID
    name: str
    admins: list[AdminIn]
    notify_admins_on_link_payment: bool
    send_receipts: bool
    time_zone: str
    locale: str
    sender_name: str | None
    reply_to: str | None
    contact_phone: str | None
    contact_email: str | None
    logo_url: str | None
    brand_colour: str | None
    policy_text: str | None

    @classmethod
    def of(cls, a: Account) -> AccountOut:
        return cls(
            account_id=a.id,
            name=a.name,
            admins=[AdminIn(name=x.name, email=x.email) for x in a.admins],
            notify_admins_on_link_payment=a.notify_admins_on_link_payment,
            send_receipts=a.send_receipts,
            **asdict(a.business),
        )


def admins_of(items: list[AdminIn] | None) -> list[Admin] | None:
    return None if items is None else [Admin(name=a.name, email=str(a.email)) for a in items]
