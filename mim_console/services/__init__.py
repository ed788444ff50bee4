"""Services: the operations the CLI and the screens share (repositories + domain + outbox)."""
