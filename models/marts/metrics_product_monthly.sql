{{
    config(
        materialized='incremental',
        unique_key='month_start_date',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        liquid_clustered_by=['month_start_date', 'product_key'],
    )
}}

-- depends_on: {{ ref('int_order_lines_enriched') }}
-- Product performance by month: revenue, units and returns. Incremental: the months of every
-- line Silver landed within the lookback are recomputed whole and replace those months.
with sales_lines as (

    -- real products only: service lines (postage, fees, ...) are not product performance
    select * from {{ ref('fct_sales_lines') }}
    where
        line_class in ('sale', 'return')
        {% if is_incremental() %}
            and {{ dbt.date_trunc('month', 'sale_date') }} in (
                {{ keys_landed_since_high_water_mark(
                    ref('int_order_lines_enriched'),
                    dbt.date_trunc('month', 'touched.sale_date'),
                    'last_loaded_at'
                ) }}
            )
        {% endif %}

),

calendar as (

    select * from {{ ref('dim_date') }}

),

final as (

    select
        calendar.month_start_date,
        sales_lines.product_key,
        cast(sum(sales_lines.gross_amount) as decimal(18, 2)) as gross_revenue,
        cast(sum(sales_lines.return_amount) as decimal(18, 2)) as returns_value,
        cast(sum(sales_lines.net_amount) as decimal(18, 2)) as net_revenue,
        cast(sum(case when sales_lines.is_return then 0 else sales_lines.quantity end) as bigint)
            as units_sold,
        cast(sum(case when sales_lines.is_return then -sales_lines.quantity else 0 end) as bigint)
            as units_returned,
        cast(count(distinct sales_lines.transaction_no) as bigint) as transaction_count,
        cast(max(sales_lines.bronze_ingested_at) as timestamp) as last_loaded_at
    from sales_lines
    inner join calendar
        on sales_lines.date_key = calendar.date_key
    group by calendar.month_start_date, sales_lines.product_key

)

select * from final
