"""What link-service does: create, pay, cancel, resend and sweep payment links (`links`), and
the hosted page's payment flow (`payments`). Each use case takes the service's `Deps` (the
database pool, the outbox, the Stripe port of `ports`) and is called by an entry point; it
never imports the entry points or `main`."""
