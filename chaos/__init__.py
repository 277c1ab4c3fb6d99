"""Chaos testing of bookpay: a seeded workload under seeded faults, then invariants checked on the real state (see README.md)."""
