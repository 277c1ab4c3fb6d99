-- A succeeded charge keeps taking from its bookings' balance due until booking-service has
-- applied it to every one of them (their state lists it in settled_charge_ids). Charges that
-- succeeded before this was tracked are taken as applied.
ALTER TABLE charges ADD COLUMN awaits_settlement boolean NOT NULL DEFAULT true;
UPDATE charges SET awaits_settlement = false WHERE status = 'succeeded';

-- The balance check reads every charge of a booking that may still count, succeeded ones too.
DROP INDEX charges_open_by_booking;
CREATE INDEX charges_by_booking ON charges USING gin (booking_ids);

-- What booking-service could not apply to the charge's bookings (PaymentOverCollected): paid
-- beyond their balance due, to be refunded.
ALTER TABLE charges ADD COLUMN over_collected_amount bigint CHECK (over_collected_amount > 0);
