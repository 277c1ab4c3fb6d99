-- Successful charges whose customer receives a receipt: PaymentSucceeded as it came, kept until
-- the account and customer are known (booking-service's state events may be late) and the
-- receipt is written to `notifications` (or the account turned receipts off): `decided_at` and
-- `decision` say which. Never dropped: a charge waits here, retried by the sweep, as long as it
-- must. One row per charge, so one receipt per charge however often the event comes.
CREATE TABLE receipts (
    charge_id                uuid PRIMARY KEY,
    account_id               uuid        NOT NULL,
    customer_id              uuid        NOT NULL,
    booking_ids              uuid[]      NOT NULL,
    amount                   bigint      NOT NULL,
    currency                 text        NOT NULL,
    method                   text        NOT NULL,
    stripe_payment_intent_id text        NOT NULL,
    card_brand               text,
    card_last4               text,
    paid_at                  timestamptz NOT NULL,
    received_at              timestamptz NOT NULL DEFAULT now(),
    decided_at               timestamptz,
    decision                 text CHECK (decision IN ('emailed', 'turned_off')),
    CHECK ((decided_at IS NULL) = (decision IS NULL))
);
CREATE INDEX receipts_waiting ON receipts (received_at) WHERE decided_at IS NULL;
