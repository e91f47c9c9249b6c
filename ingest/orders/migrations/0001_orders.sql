-- The orders application's own tables: one row per order, one per order line.
-- Cancellations are orders too (TransactionNo with a C prefix, negative quantities).
create table orders (
    transaction_no text primary key,
    order_date date not null,
    customer_no text,
    country text not null,
    is_cancellation boolean not null,
    placed_at timestamptz not null default now()
);

create table order_lines (
    transaction_no text not null references orders (transaction_no),
    line_no integer not null,
    product_no text not null,
    product_name text not null,
    price numeric(14, 2) not null,
    quantity integer not null,
    -- the event this line was published as (the outbox row's event_id)
    event_id uuid not null unique,
    primary key (transaction_no, line_no)
);
