"""The emails: one function per email, returning its subject, HTML and plain text.

Each fills its two templates (`templates/<email>.html` and `.txt`, on the frame of
`email.html` / `email.txt`) through one `Templates` (`rendering`); amounts, times and checks are
Python (`formats`).

Rendering an email is presentation, yet this package sits at the root, beside the layers
rather than in one: an email is rendered when a use case writes its notification (what is
stored is what is sent, and a preview is the same function), the SMTP adapter uses its
one-line header rule, and the settings its URL check. Under entrypoints/ the use cases could
not import it; under adapters/ it would sit among code that talks to the outside, which it never
does. It imports only the domain (an import rule checks this).
"""

from notification_service.emails.admin_link_paid import (
    AdminLinkPaidEmail,
    PaidBooking,
    admin_link_paid_email,
)
from notification_service.emails.payment_link import (
    BUTTON_LABEL,
    BookingLine,
    PaymentLinkEmail,
    payment_link_email,
)
from notification_service.emails.receipt import (
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
