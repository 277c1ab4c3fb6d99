-- Emails to send: an outbox of emails, one row per notification and recipient, written in the
-- same transaction as the event that asks for it and sent by the delivery loop.
CREATE TABLE notifications (
    id              uuid PRIMARY KEY,
    dedupe_key      text        NOT NULL,
    kind            text        NOT NULL,
    account_id      uuid        NOT NULL,
    charge_id       uuid,
    recipient       text        NOT NULL,
    recipient_name  text,
    subject         text        NOT NULL,
    html            text        NOT NULL,
    text            text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    last_error      text,
    smtp_reply      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    failed_at       timestamptz
);
-- Exactly one email per notification and recipient, however often the event is delivered.
CREATE UNIQUE INDEX notifications_once ON notifications (dedupe_key, lower(recipient));
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notifications_leased ON notifications (lease_until) WHERE status = 'sending';
CREATE INDEX notifications_account ON notifications (account_id, created_at DESC);
CREATE INDEX notifications_charge ON notifications (charge_id);

CREATE FUNCTION notifications_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('notifications', '');
    RETURN NULL;
END $$;
CREATE TRIGGER notifications_inserted AFTER INSERT ON notifications
    FOR EACH STATEMENT EXECUTE FUNCTION notifications_notify();

-- Charges paid through a payment link, with the account's settings and administrators as they
-- were when the payment was processed. `notified_at` is set once the administrators' emails
-- are written (or there is nobody to notify).
CREATE TABLE link_payments (
    charge_id       uuid PRIMARY KEY,
    account_id      uuid        NOT NULL,
    merchant_name   text        NOT NULL,
    customer_name   text        NOT NULL,
    customer_email  text        NOT NULL,
    booking_ids     uuid[]      NOT NULL,
    amount          bigint      NOT NULL,
    currency        text        NOT NULL,
    stripe_payment_intent_id text NOT NULL,
    paid_at         timestamptz NOT NULL,
    admins          jsonb       NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    notified_at     timestamptz
);
CREATE INDEX link_payments_waiting ON link_payments (received_at) WHERE notified_at IS NULL;

-- Bookings a link payment was applied to (BookingCharged), whatever order they arrive in.
CREATE TABLE booking_charges (
    charge_id      uuid        NOT NULL,
    booking_id     uuid        NOT NULL,
    account_id     uuid        NOT NULL,
    booking_status text        NOT NULL,
    amount_applied bigint      NOT NULL,
    balance_due    bigint      NOT NULL,
    currency       text        NOT NULL,
    charged_at     timestamptz NOT NULL,
    PRIMARY KEY (charge_id, booking_id)
);
