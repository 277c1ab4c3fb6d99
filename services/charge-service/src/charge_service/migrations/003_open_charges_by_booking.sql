-- Charges not yet settled, by booking: what is already claimed on a booking's balance.
CREATE INDEX charges_open_by_booking ON charges USING gin (booking_ids)
    WHERE status IN ('requested', 'processing', 'awaiting_customer');
