-- Projection of booking-service's api-keys-state: the keys this service accepts. A key is
-- verified by its hash; last_used_at is when this service last saw it (at most once a minute).
CREATE TABLE known_api_keys (
    key_id       uuid PRIMARY KEY,
    account_id   uuid        NOT NULL,
    scopes       text[]      NOT NULL,
    key_hash     text        NOT NULL,
    revoked      boolean     NOT NULL,
    version      integer     NOT NULL,
    last_used_at timestamptz
);
