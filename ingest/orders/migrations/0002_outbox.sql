-- Transactional outbox: written in the same transaction as the order, so an event exists
-- if and only if its order does. The relay reads it through logical replication (the
-- publication below, inserts only) and deletes rows the broker has acknowledged.
create table outbox (
    id bigserial primary key,
    aggregate_type text not null default 'order',
    aggregate_id text not null,          -- TransactionNo: the Kafka key
    event_id uuid not null unique,
    event_type text not null,
    payload text not null,               -- the event envelope JSON, byte for byte the Kafka value
    created_at timestamptz not null default now()
);

create publication outbox_publication for table outbox with (publish = 'insert');

-- What the relay has confirmed (broker-acknowledged), for lag reporting and cleanup.
create table relay_state (
    slot_name text primary key,
    confirmed_lsn pg_lsn not null,
    confirmed_outbox_id bigint not null,
    published bigint not null default 0,
    updated_at timestamptz not null default now()
);
