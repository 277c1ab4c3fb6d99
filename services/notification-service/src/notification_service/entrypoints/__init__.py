"""How the world reaches notification-service: the HTTP API (`routes`, with its ERROR_ANSWERS),
the Kafka consumers (`consumers`), and the background work it runs on its own (`tasks`: the
delivery loop and the sweeps). Thin: validate, call one use case, shape the answer."""
