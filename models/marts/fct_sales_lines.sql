{{
    config(
        materialized=lakehouse_recompute_materialization(),
        unique_key='sales_line_key',
        incremental_strategy=lakehouse_incremental_strategy(),
        on_schema_change='fail',
    )
}}

-- One row per counted sale or return line, with a key to every dimension. Incremental:
-- lines Silver landed within the lookback window are (re)written.
with sales_lines as (

    select * from {{ ref('int_sales_lines') }}
    {% if is_incremental() %}
        where
            bronze_ingested_at
            > {{ high_water_mark('bronze_ingested_at', var('silver_lookback_hours')) }}
    {% endif %}

),

final as (

    select
        {{ surrogate_key('event_id') }} as sales_line_key,
        event_id,
        transaction_no,
        cast(year(sale_date) * 10000 + month(sale_date) * 100 + day(sale_date) as int) as date_key,
        {{ surrogate_key('product_no') }} as product_key,
        case when customer_no is not null then {{ surrogate_key('customer_no') }} end
            as customer_key,
        {{ surrogate_key("coalesce(country_code, 'unknown')") }} as country_key,
        sale_date,
        quantity,
        unit_price,
        gross_amount,
        return_amount,
        line_total as net_amount,
        is_return,
        cast(bronze_ingested_at as timestamp) as bronze_ingested_at
    from sales_lines

)

select * from final
