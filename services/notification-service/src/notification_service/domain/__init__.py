"""notification-service's domain: pure rules with no I/O (`notifications`). The emails to
deliver and what happens after each attempt (the retry policy), when the administrators' email
about a link payment has everything it needs, and what a customer's receipt is made from.
Nothing here touches the database, Kafka, HTTP or SMTP."""
