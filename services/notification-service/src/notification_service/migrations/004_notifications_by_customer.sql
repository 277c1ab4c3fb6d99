-- Emails by customer: each email names the customer it is about (the customer's own payment
-- link email, or the administrators' email about that customer's link payment), taken from
-- the event that causes it (PaymentLinkCreated, PaymentSucceeded: both carry customer_id).
-- A link payment keeps its customer until its administrators' email is written.
ALTER TABLE notifications ADD COLUMN customer_id uuid;
ALTER TABLE link_payments ADD COLUMN customer_id uuid;

-- Rows written before, as far as what is kept here tells: a link payment's customer is its
-- bookings' (a charge's bookings are all one customer's), as the projection knows them...
UPDATE link_payments p
   SET customer_id = b.customer_id
  FROM known_bookings b
 WHERE p.customer_id IS NULL AND b.booking_id = p.booking_ids[1] AND b.account_id = p.account_id;
-- ...every email about a paid charge is its payment's customer's...
UPDATE notifications n
   SET customer_id = p.customer_id
  FROM link_payments p
 WHERE n.customer_id IS NULL AND p.charge_id = n.charge_id AND p.account_id = n.account_id;
-- ...and any other payment-link email is that of the account's one customer with the address
-- it went to (two customers sharing an address: left unknown, null).
UPDATE notifications n
   SET customer_id = c.customer_id
  FROM known_customers c
 WHERE n.customer_id IS NULL AND n.kind = 'payment_link'
   AND c.account_id = n.account_id AND lower(c.email) = lower(n.recipient)
   AND NOT EXISTS (SELECT 1 FROM known_customers o
                    WHERE o.account_id = n.account_id AND lower(o.email) = lower(n.recipient)
                      AND o.customer_id <> c.customer_id);

-- A customer's emails, newest first and paged on (created_at, id) as the account's are.
CREATE INDEX notifications_customer_paged
    ON notifications (account_id, customer_id, created_at DESC, id DESC);
