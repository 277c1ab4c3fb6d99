CREATE TABLE accounts (
    id          uuid PRIMARY KEY,
    name        text        NOT NULL,
    notify_admins_on_link_payment boolean NOT NULL DEFAULT true,
    version     integer     NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE account_admins (
    account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    position   integer NOT NULL,
    name       text NOT NULL,
    email      text NOT NULL,
    PRIMARY KEY (account_id, position),
    UNIQUE (account_id, email)
);

CREATE TABLE customers (
    id          uuid PRIMARY KEY,
    account_id  uuid        NOT NULL REFERENCES accounts (id),
    name        text        NOT NULL,
    email       text        NOT NULL,
    version     integer     NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customers_account ON customers (account_id);

CREATE TABLE bookings (
    id          uuid PRIMARY KEY,
    account_id  uuid        NOT NULL REFERENCES accounts (id),
    customer_id uuid        NOT NULL REFERENCES customers (id),
    title       text        NOT NULL,
    starts_at   timestamptz NOT NULL,
    amount      bigint      NOT NULL CHECK (amount > 0),
    currency    text        NOT NULL,
    amount_paid bigint      NOT NULL DEFAULT 0 CHECK (amount_paid >= 0),
    version     integer     NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bookings_customer ON bookings (customer_id, starts_at);

-- One row per payment applied to a booking; a charge is applied to a booking at most once.
CREATE TABLE booking_payments (
    id             bigserial PRIMARY KEY,
    booking_id     uuid        NOT NULL REFERENCES bookings (id),
    charge_id      uuid        NOT NULL,
    amount_applied bigint      NOT NULL CHECK (amount_applied > 0),
    currency       text        NOT NULL,
    method         text        NOT NULL,
    stripe_payment_intent_id text NOT NULL,
    applied_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (charge_id, booking_id)
);

-- One row per successful charge received, with what could not be applied to its bookings.
CREATE TABLE received_payments (
    charge_id        uuid PRIMARY KEY,
    account_id       uuid        NOT NULL,
    customer_id      uuid        NOT NULL,
    amount           bigint      NOT NULL,
    currency         text        NOT NULL,
    unapplied_amount bigint      NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now()
);
