-- Attempts whose outcome was never recorded: the sender stopped (a crash, or the database out
-- of reach for longer than the lease) after claiming the email, so it may have gone out. The
-- next attempt resends it with the same Message-ID; this count says how often that happened.
ALTER TABLE notifications
    ADD COLUMN interrupted_attempts integer NOT NULL DEFAULT 0;
