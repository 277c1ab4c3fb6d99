-- A Stripe account (a business's customers, cards and payouts) is connected to one account at
-- most: a second account connecting it is refused (409 stripe_account_in_use), and this index
-- holds that when two accounts connect it at the same moment.
CREATE UNIQUE INDEX stripe_connections_one_account ON stripe_connections (stripe_account_id);
