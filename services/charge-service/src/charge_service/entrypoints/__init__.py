"""How charge-service is reached: the HTTP routes with their request and response models (and the
service's ERROR_ANSWERS), the staff lists of charges, the card-entry page (its HTML in
templates/), the Kafka consumer and periodic-task registration. Thin: validate, call one use
case, shape the answer."""
