-- An account's API keys are listed in pages, newest first on (created_at, key_id): this index
-- serves that order and the cursor's bound exactly; it replaces the one on created_at alone.
CREATE INDEX api_keys_account_paged ON api_keys (account_id, created_at DESC, key_id DESC);
DROP INDEX api_keys_account;
