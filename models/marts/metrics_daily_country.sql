{{
    config(
        materialized='incremental',
        unique_key='sale_date',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        liquid_clustered_by=['sale_date', 'country'],
    )
}}

-- depends_on: {{ ref('int_order_lines_enriched') }}
-- Daily metrics per country. Revenue, quantity, orders and customers count product sale and
-- return lines only; the money of service lines (postage, fees, adjustments, ...) is
-- adjustments_and_fees. Incremental: the days of every line Silver landed within the
-- lookback (counted or not: a line that became a duplicate changes its day too) are
-- recomputed whole and replace those days (delete+insert on sale_date), so a country that
-- lost its last line of a day disappears from it as in a full refresh.
with sales_lines as (

    select * from {{ ref('int_sales_lines') }}
    {% if is_incremental() %}
        where sale_date in (
            {{ keys_landed_since_high_water_mark(
                ref('int_order_lines_enriched'), 'touched.sale_date', 'last_loaded_at'
            ) }}
        )
    {% endif %}

),

daily as (

    select
        sale_date,
        country,
        sum(net_amount) as net_revenue,
        sum(gross_amount) as gross_revenue,
        sum(return_amount) as returns_value,
        sum(case when line_class in ('sale', 'return') then quantity else 0 end) as net_quantity,
        count(distinct case when line_class = 'sale' then transaction_no end) as sales_orders,
        count(distinct case when line_class in ('sale', 'return') then customer_no end)
            as customers,
        sum(adjustments_and_fees_amount) as adjustments_and_fees,
        max(bronze_ingested_at) as last_loaded_at
    from sales_lines
    group by sale_date, country

),

final as (

    select
        sale_date,
        country,
        cast(net_revenue as decimal(18, 2)) as total_revenue,
        cast(net_quantity as bigint) as total_quantity,
        cast(sales_orders as bigint) as total_orders,
        cast(customers as bigint) as distinct_customers,
        cast(gross_revenue as decimal(18, 2)) as gross_revenue,
        cast(returns_value as decimal(18, 2)) as returns_value,
        cast(returns_value / nullif(gross_revenue, 0) as decimal(18, 4)) as return_rate,
        cast(gross_revenue / nullif(sales_orders, 0) as decimal(18, 4)) as average_order_value,
        cast(adjustments_and_fees as decimal(18, 2)) as adjustments_and_fees,
        cast(last_loaded_at as timestamp) as last_loaded_at
    from daily

)

select * from final
