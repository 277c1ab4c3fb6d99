-- The trace context active when the event was enqueued (propagation headers: traceparent,
-- tracestate...), sent by the relay as the record's Kafka headers. NULL: none was active.
ALTER TABLE outbox ADD COLUMN trace_context jsonb;
