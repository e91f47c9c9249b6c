{{
    config(
        materialized='incremental',
        unique_key=['transaction_no', 'customer_key'],
        incremental_strategy=lakehouse_incremental_strategy(),
        on_schema_change='fail',
    )
}}

-- depends_on: {{ ref('int_order_lines_enriched') }}
-- What each known customer bought or returned per transaction (product sale and return lines
-- only): the per-customer aggregates of metrics_customer_rfm are sums over these rows, one
-- per transaction instead of one per line. Incremental: Silver recomputes a transaction whole
-- when a line of it changes, so the transactions of the lines it (re)computed since the last
-- run are rebuilt whole from those lines and replace their rows.
with changed as (

    select * from {{ ref('int_sales_lines') }}
    where
        customer_no is not null
        and line_class in ('sale', 'return')
        {% if is_incremental() %}
            and silver_recomputed_at > {{ high_water_mark('silver_recomputed_at', 0) }}
        {% endif %}

),

final as (

    select
        transaction_no,
        {{ dbt.hash('customer_no') }} as customer_key,
        max(sale_date) as last_sale_date,
        -- a purchase (not a return) counts towards the customer's frequency
        max(case when is_return then 0 else 1 end) as is_purchase,
        cast(sum(net_amount) as decimal(20, 3)) as net_amount,
        max(silver_recomputed_at) as silver_recomputed_at
    from changed
    group by transaction_no, {{ dbt.hash('customer_no') }}

)

select * from final
