"""What notification-service does: the customer's payment-link email and its preview
(`link_emails`), the administrators' email after a link payment (`admin_emails`), the customer's
receipt (`receipts`) and the delivery loop that sends them all (`delivery`). Each takes the
service's `Deps` (`deps`) and the ports it needs (`ports`: the `Mailer`); use cases render emails
with the root `emails` package, and never import the entry points or `main`."""
