-- Who made the account's current Stripe connection (the acting staff member; "staff" until
-- requests are authenticated). connected_at now says when the current connection was made.
ALTER TABLE stripe_connections ADD COLUMN connected_by text NOT NULL DEFAULT 'staff';

-- Every connection an account made, in order: which Stripe account, replacing which, by whom,
-- when. A charge or link pinned to an earlier Stripe account is still completed on it.
CREATE TABLE stripe_connection_changes (
    id                         bigserial PRIMARY KEY,
    account_id                 uuid        NOT NULL,
    version                    integer     NOT NULL,
    stripe_account_id          text        NOT NULL,
    previous_stripe_account_id text,
    connected_by               text        NOT NULL,
    connected_at               timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, version)
);
CREATE INDEX stripe_connection_changes_stripe_account
    ON stripe_connection_changes (account_id, stripe_account_id);

-- Connections made before changes were recorded start the history as they stand.
INSERT INTO stripe_connection_changes (account_id, version, stripe_account_id, connected_by, connected_at)
SELECT account_id, version, stripe_account_id, 'unknown (connected before changes were recorded)', updated_at
FROM stripe_connections;
