"""The orders application side: its PostgreSQL database (with a transactional outbox), the
orders simulator that writes to it, and the outbox relay (CDC) that publishes the outbox."""
