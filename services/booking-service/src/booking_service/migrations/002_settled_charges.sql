-- Every charge applied to a booking, one that got no share of it included: published with the
-- booking's state (settled_charge_ids) so that charge-service knows the charge is in the
-- booking's balance. Backfilled from the payments applied so far.
CREATE TABLE settled_charges (
    booking_id uuid        NOT NULL REFERENCES bookings (id),
    charge_id  uuid        NOT NULL,
    settled_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (booking_id, charge_id)
);
INSERT INTO settled_charges (booking_id, charge_id, settled_at)
    SELECT booking_id, charge_id, applied_at FROM booking_payments
    ON CONFLICT DO NOTHING;
