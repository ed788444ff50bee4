"""Sending alerts: the Notifier protocol, Twilio, the outbox dispatcher, the local stand-in."""
