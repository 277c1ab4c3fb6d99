-- Whether the account's customers receive a receipt email after each successful charge
-- (notification-service sends it). On by default, for existing accounts too.
ALTER TABLE accounts ADD COLUMN send_receipts boolean NOT NULL DEFAULT true;
