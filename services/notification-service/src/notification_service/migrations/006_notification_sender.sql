-- Who an email is from, as its recipient sees it: the business's display name (the address
-- stays bookpay's own) and where replies go. Null for emails written before these were kept:
-- they go out from the configured address as it is, without Reply-To.
ALTER TABLE notifications
    ADD COLUMN sender_name text,
    ADD COLUMN reply_to    text;
