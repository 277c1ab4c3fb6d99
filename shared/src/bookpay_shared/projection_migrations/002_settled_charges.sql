-- The charges booking-service has applied to each booking (BookingStateChanged
-- settled_charge_ids): a charge paid but not listed yet is not in the booking's balance.
ALTER TABLE known_bookings ADD COLUMN settled_charge_ids uuid[] NOT NULL DEFAULT '{}';
