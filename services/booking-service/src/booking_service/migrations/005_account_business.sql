-- The business behind an account: its time zone and locale (times shown to its customers and
-- staff are local; bookings keep UTC instants) and what its emails and pages show of it.
-- Existing accounts keep UTC and en-US, with no details, until they are set.
ALTER TABLE accounts
    ADD COLUMN time_zone     text NOT NULL DEFAULT 'UTC',
    ADD COLUMN locale        text NOT NULL DEFAULT 'en-US',
    ADD COLUMN sender_name   text,
    ADD COLUMN reply_to      text,
    ADD COLUMN contact_phone text,
    ADD COLUMN contact_email text,
    ADD COLUMN logo_url      text,
    ADD COLUMN brand_colour  text,
    ADD COLUMN policy_text   text;
