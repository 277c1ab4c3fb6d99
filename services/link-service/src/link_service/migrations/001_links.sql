-- Payment links. The token is never stored: only its SHA-256 (token_hash), replaced when the
-- link is sent again (the old URL stops working).
CREATE TABLE links (
    link_id           uuid PRIMARY KEY,
    charge_id         uuid        NOT NULL UNIQUE,
    account_id        uuid        NOT NULL,
    customer_id       uuid        NOT NULL,
    booking_ids       uuid[]      NOT NULL,
    amount            bigint      NOT NULL CHECK (amount > 0),
    currency          text        NOT NULL,
    message           text,
    origin            text        NOT NULL CHECK (origin IN ('payment_link', 'authentication_fallback')),
    state             text        NOT NULL CHECK (state IN ('active', 'paid', 'expired', 'cancelled')),
    token_hash        bytea       NOT NULL UNIQUE,
    sent_count        integer     NOT NULL DEFAULT 1,
    expires_at        timestamptz NOT NULL,
    payment_intent_id text UNIQUE,
    save_card         boolean     NOT NULL DEFAULT false,
    intent_settled    boolean     NOT NULL DEFAULT false,
    intent_checked_at timestamptz,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    paid_at           timestamptz,
    closed_at         timestamptz
);
CREATE INDEX links_account ON links (account_id, created_at DESC);
CREATE INDEX links_customer ON links (customer_id, created_at DESC);
-- What the sweep looks at: links to expire, and PaymentIntents not known to be final.
CREATE INDEX links_active_expiry ON links (expires_at) WHERE state = 'active';
CREATE INDEX links_unsettled_intents ON links (intent_checked_at NULLS FIRST)
    WHERE payment_intent_id IS NOT NULL AND NOT intent_settled;

-- What happened to each link, for staff.
CREATE TABLE link_history (
    id         bigserial PRIMARY KEY,
    link_id    uuid        NOT NULL REFERENCES links (link_id),
    at         timestamptz NOT NULL DEFAULT now(),
    state      text        NOT NULL,
    note       text        NOT NULL,
    actor      text
);
CREATE INDEX link_history_link ON link_history (link_id, id);

-- Per-account settings of links.
CREATE TABLE link_settings (
    account_id       uuid PRIMARY KEY,
    expires_in_hours integer     NOT NULL CHECK (expires_in_hours BETWEEN 1 AND 2160),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Projection of charge-service's stripe-connections-state: the connected Stripe account of
-- each bookpay account (NULL once disconnected).
CREATE TABLE stripe_connections (
    account_id        uuid PRIMARY KEY,
    stripe_account_id text,
    version           integer NOT NULL
);
