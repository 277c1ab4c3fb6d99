"""notification-service's talk with the outside: its SQL on PostgreSQL (`repository`) and SMTP
(`mailer`, the `usecases.ports.Mailer` on aiosmtplib). Adapters never import the entry points or
`main`."""
