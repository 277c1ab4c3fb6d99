-- API keys booking-service issues: each acts for one account with scopes. Only the key's
-- SHA-256 is kept (the key is shown once, when it is created). Every change is published on
-- api-keys-state for the other services' projections.
CREATE TABLE api_keys (
    key_id       uuid PRIMARY KEY,
    account_id   uuid        NOT NULL REFERENCES accounts (id),
    mode         text        NOT NULL CHECK (mode IN ('live', 'test')),
    scopes       text[]      NOT NULL,
    key_hash     text        NOT NULL,
    description  text        NOT NULL DEFAULT '',
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    revoked_by   text,
    last_used_at timestamptz,
    version      integer     NOT NULL
);
CREATE INDEX api_keys_account ON api_keys (account_id, created_at);
