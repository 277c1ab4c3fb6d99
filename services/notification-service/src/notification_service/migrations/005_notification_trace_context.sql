-- The trace context active when the email was written (propagation headers: traceparent,
-- tracestate...): its sends continue the trace of the event that asked for it. NULL: none.
ALTER TABLE notifications ADD COLUMN trace_context jsonb;
