-- The business behind each account (AccountStateChanged's time zone, locale and details):
-- accounts projected before these existed read as UTC, en-US and no details until their next
-- state event.
ALTER TABLE known_accounts
    ADD COLUMN time_zone     text NOT NULL DEFAULT 'UTC',
    ADD COLUMN locale        text NOT NULL DEFAULT 'en-US',
    ADD COLUMN sender_name   text,
    ADD COLUMN reply_to      text,
    ADD COLUMN contact_phone text,
    ADD COLUMN contact_email text,
    ADD COLUMN logo_url      text,
    ADD COLUMN brand_colour  text,
    ADD COLUMN policy_text   text;
