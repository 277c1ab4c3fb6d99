"""How booking-service is reached: the HTTP routes with their request and response models (and
the service's ERROR_ANSWERS) and the Kafka consumer registration. Thin: validate, call one use
case, shape the answer."""
