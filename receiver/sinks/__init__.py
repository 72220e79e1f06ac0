"""Sinks: where the outbox dispatcher (receiver/outbox.py) delivers messages. The contract is in base.py."""
