-- The deliveries list is paged newest first on (created_at, id): emails written in one
-- transaction (an account's administrators) share created_at, and id orders them. This index
-- serves that order and the cursor's bound exactly; it replaces the one on created_at alone.
CREATE INDEX notifications_account_paged ON notifications (account_id, created_at DESC, id DESC);
DROP INDEX notifications_account;
