-- Projections of booking-service's entity state (accounts-state, customers-state,
-- bookings-state), for services that need to read them without calling booking-service.
CREATE TABLE known_accounts (
    account_id uuid PRIMARY KEY,
    name       text    NOT NULL,
    admins     jsonb   NOT NULL,
    notify_admins_on_link_payment boolean NOT NULL,
    version    integer NOT NULL
);
CREATE TABLE known_customers (
    customer_id uuid PRIMARY KEY,
    account_id  uuid    NOT NULL,
    name        text    NOT NULL,
    email       text    NOT NULL,
    version     integer NOT NULL
);
CREATE TABLE known_bookings (
    booking_id  uuid PRIMARY KEY,
    account_id  uuid        NOT NULL,
    customer_id uuid        NOT NULL,
    title       text        NOT NULL,
    starts_at   timestamptz NOT NULL,
    amount      bigint      NOT NULL,
    currency    text        NOT NULL,
    amount_paid bigint      NOT NULL,
    balance_due bigint      NOT NULL,
    status      text        NOT NULL,
    version     integer     NOT NULL
);
CREATE INDEX known_bookings_customer ON known_bookings (customer_id);
