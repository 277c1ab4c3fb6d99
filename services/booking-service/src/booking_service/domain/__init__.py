"""booking-service's domain: accounts, customers, bookings, their balance and status, and how a
payment is allocated to a charge's bookings. Pure logic and values only: no database, Kafka, HTTP
or SMTP, so every rule here is tested without any of them."""
