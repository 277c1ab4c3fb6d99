-- Staff lists of charges, newest first and paged on (created_at, charge_id) (see
-- bookpay_shared.pagination): an account's charges, and a customer's. Each page is one range
-- scan of one of these indexes; the account's one replaces charges_account, whose order
-- lacked the charge_id that breaks ties between charges recorded in the same microsecond.
CREATE INDEX charges_account_newest ON charges (account_id, created_at DESC, charge_id DESC);
DROP INDEX charges_account;
CREATE INDEX charges_customer_newest ON charges (customer_id, created_at DESC, charge_id DESC);
