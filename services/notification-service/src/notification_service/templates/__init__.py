"""Email templates: one function per email, returning its subject, HTML and plain text.

No template engine: small functions over frozen dataclasses, escaping every value (see layout).
"""

from notification_service.templates.admin_link_paid import (
    AdminLinkPaidEmail,
    PaidBooking,
    admin_link_paid_email,
)
from notification_service.templates.payment_link import (
    BUTTON_LABEL,
    BookingLine,
    PaymentLinkEmail,
    payment_link_email,
)
from notification_service.templates.receipt import (
    ReceiptBooking,
    ReceiptEmail,
    card_label,
    receipt_email,
)

__all__ = [
    "BUTTON_LABEL",
    "AdminLinkPaidEmail",
    "BookingLine",
    "PaidBooking",
    "PaymentLinkEmail",
    "ReceiptBooking",
    "ReceiptEmail",
    "admin_link_paid_email",
    "card_label",
    "payment_link_email",
    "receipt_email",
]
