-- The card a link was paid with (brand and last four digits, as Stripe names them), for the
-- receipt its success page shows. Null for links paid before it was kept, or while unknown.
ALTER TABLE links ADD COLUMN card_brand text, ADD COLUMN card_last4 text;
