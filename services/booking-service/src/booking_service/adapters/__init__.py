"""booking-service talking to the outside: the SQL that stores and reads accounts, customers,
bookings and their payments on PostgreSQL, returning domain objects. Never imports the
entrypoints or main."""
