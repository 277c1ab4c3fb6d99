"""bookpay-ops: see and steer a running bookpay from a terminal."""
