"""The orders application side: its PostgreSQL database (with a transactional outbox), the
orders simulator that writes to it, and the outbox relay (CDC) that publishes the outbox."""

# How long the relay keeps a published outbox row for a replay (`orders relay --retention-minutes`,
# `run --outbox-retention-minutes`): longer than Bronze may ever lag behind the topic.
DEFAULT_RETENTION_MINUTES = 60.0
