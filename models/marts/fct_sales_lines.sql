{{
    config(
        materialized='incremental',
        unique_key='sales_line_key',
        incremental_strategy=lakehouse_incremental_strategy(),
        on_schema_change='fail',
        incremental_predicates=lakehouse_merge_predicates(
            'bronze_ingested_at', ['source_event_at', 'bronze_ingested_at']
        ),
        liquid_clustered_by=['sale_date', 'bronze_ingested_at'],
        pre_hook="{{ delete_newly_excluded_lines() if is_incremental() }}",
    )
}}

-- depends_on: {{ ref('int_excluded_lines') }}
-- One row per counted line, with a key to every dimension and its line class: product sales
-- and returns carry the revenue, service lines (postage, fees, adjustments, ...) carry their
-- money in adjustments_and_fees_amount, so no money vanishes (docs/gold.md). Incremental:
-- lines Silver landed within the lookback window are (re)written; a line that Silver has
-- since excluded (it became the later copy of an exact duplicate whose earlier copy arrived
-- late, or its customer became a test account) is deleted first, by the pre-hook
-- (macros/incremental/delete_newly_excluded_lines.sql): only lines Silver excluded since the
-- last run are looked up, and only the fact's rows landed since the oldest of them.
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
        {{ dbt.hash('event_id') }} as sales_line_key,
        event_id,
        transaction_no,
        cast(year(sale_date) * 10000 + month(sale_date) * 100 + day(sale_date) as int) as date_key,
        {{ dbt.hash('product_no') }} as product_key,
        case when customer_no is not null then {{ dbt.hash('customer_no') }} end
            as customer_key,
        {{ dbt.hash("coalesce(country_code, 'unknown')") }} as country_key,
        sale_date,
        quantity,
        unit_price,
        gross_amount,
        return_amount,
        net_amount,
        adjustments_and_fees_amount,
        is_return,
        line_class,
        cast(source_event_at as timestamp) as source_event_at,
        cast(bronze_ingested_at as timestamp) as bronze_ingested_at
    from sales_lines

)

select * from final
