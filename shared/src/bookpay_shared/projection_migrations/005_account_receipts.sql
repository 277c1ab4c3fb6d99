-- Whether the account emails its customers a receipt after each successful charge
-- (AccountStateChanged send_receipts): accounts projected before it existed send them, as
-- booking-service's own default says, until their next state event.
ALTER TABLE known_accounts ADD COLUMN send_receipts boolean NOT NULL DEFAULT true;
