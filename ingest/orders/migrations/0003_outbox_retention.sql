-- Outbox retention (issue 11): the relay no longer deletes a row once the broker acknowledged
-- it. It marks the row published (before it confirms the slot past it) and keeps it for the
-- retention window, so that events a broker acknowledged and then lost (the local broker keeps
-- topics in memory only) can be published again: `python -m ingest orders replay`.
alter table outbox add column published_at timestamptz;

-- Rows the relay had confirmed before this migration (it deleted them about every second).
update outbox
set published_at = now()
where id <= (select coalesce(max(confirmed_outbox_id), 0) from relay_state);

-- Relay lag: the rows not yet published.
create index outbox_unpublished_idx on outbox (id) where published_at is null;
-- Pruning: published rows older than the retention window.
create index outbox_published_at_idx on outbox (published_at) where published_at is not null;

-- What pruning removed: how many rows, and the highest outbox id among them (a replay that
-- finds Bronze lacking even the oldest retained row says events may be gone for good).
alter table relay_state
    add column pruned bigint not null default 0,
    add column pruned_through_id bigint not null default 0;
