-- What a charge asked for, apart from what it became: `method` turns into payment_link when the
-- bank wants the customer, and `payment_method_id` from "the default card" (NULL) into the card
-- chosen. A repeated request is compared with what was asked.
ALTER TABLE charges ADD COLUMN requested_method text, ADD COLUMN requested_payment_method_id text;
UPDATE charges SET requested_method = method, requested_payment_method_id = payment_method_id;
ALTER TABLE charges ALTER COLUMN requested_method SET NOT NULL;
