"""Email templates: one function per email, returning its subject, HTML and plain text.

No template engine: small functions over frozen dataclasses, escaping every value (see layout).

Rendering an email is presentation, yet this package stays at the root, beside the layers
rather than in one: an email is rendered when a use case writes its notification (what is
stored is what is sent, and a preview is the same function), the SMTP adapter uses its
one-line header rule, and the settings its URL check. Under entrypoints/ the use cases could
not import it; under adapters/ it would sit among code that talks to the outside, which it never
does. It imports only the domain (an import rule checks this).
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
