"""Sending alerts: the Notifier protocol, Twilio, the outbox dispatcher."""
