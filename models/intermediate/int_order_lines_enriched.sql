{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy=lakehouse_incremental_strategy(),
        on_schema_change='fail',
        incremental_predicates=lakehouse_merge_predicates('bronze_ingested_at', ['bronze_ingested_at']),
        liquid_clustered_by=['bronze_ingested_at', 'transaction_no'],
    )
}}
{%- if is_incremental() -%}
    {%- set touched = touched_sale_dates(ref('stg_bronze__order_lines')) -%}
{%- endif %}

with lines as (

    select * from {{ ref('stg_bronze__order_lines') }}
    {% if is_incremental() %}
        -- a transaction touched by a new line is recomputed whole: the duplicate-line flag
        -- compares lines within a transaction and sale date, so only the touched sale dates
        -- are read (a literal range, pushed down to the scan)
        where
            {{ touched.sale_date_filter }}
            and transaction_no in (
                {{ keys_landed_since_high_water_mark(
                    ref('stg_bronze__order_lines'), 'touched.transaction_no', 'bronze_ingested_at'
                ) }}
            )
    {% endif %}

),

countries as (

    select * from {{ ref('country_codes') }}

),

non_product_codes as (

    select * from {{ ref('non_product_codes') }}

),

test_customers as (

    select * from {{ ref('test_customers') }}

),

joined as (

    select
        lines.*,
        countries.country_name,
        countries.iso_code as country_code,
        countries.region as country_region,
        non_product_codes.description as non_product_description,
        non_product_codes.line_class as listed_line_class,
        test_customers.customer_no is not null as is_test_customer
    from lines
    left join countries
        on lines.source_country = countries.source_country
    left join non_product_codes
        on lines.product_no = non_product_codes.product_no
    left join test_customers
        on lines.customer_no = test_customers.customer_no

),

ranked as (

    -- the source repeats some lines exactly (same transaction, date, product, name, price,
    -- quantity, customer, country) under different event ids: the first by event order is
    -- the line, the others are flagged as duplicate lines
    select
        joined.*,
        row_number() over (
            partition by
                joined.transaction_no, joined.sale_date, joined.product_no, joined.product_name,
                joined.unit_price, joined.quantity, joined.customer_no, joined.source_country
            order by
                joined.occurred_at, joined.kafka_partition, joined.kafka_offset, joined.event_id
        ) as line_copy_number
    from joined

),

classified as (

    -- what kind of line it is (docs/silver.md): only sale and return lines of real products
    -- count as revenue, units and orders in Gold; every other class is a service line
    -- (postage, fees, adjustments, ...) whose money Gold keeps apart
    select
        ranked.*,
        case
            -- accounting adjustments have their own transaction prefix (A563185)
            when ranked.transaction_no like 'A%' then 'adjustment'
            when ranked.listed_line_class is not null then ranked.listed_line_class
            when {{ matches_pattern('ranked.product_no', 'GIFT_[0-9]+_[0-9]+') }}
                then 'gift_voucher'
            -- a code that is not a stock code and not in the seed: a service of no known kind
            when ranked.is_non_product then 'service'
            when ranked.is_return then 'return'
            else 'sale'
        end as line_class
    from ranked

),

final as (

    select
        event_id,
        transaction_no,
        sale_date,
        product_no,
        product_name,
        unit_price,
        quantity,
        line_class,
        cast(unit_price * quantity as decimal(20, 3)) as line_total,
        cast(
            case when line_class = 'sale' then unit_price * quantity else 0 end
            as decimal(20, 3)
        ) as gross_amount,
        cast(
            case when line_class = 'return' then -unit_price * quantity else 0 end
            as decimal(20, 3)
        ) as return_amount,
        cast(
            case when line_class in ('sale', 'return') then unit_price * quantity else 0 end
            as decimal(20, 3)
        ) as net_amount,
        cast(
            case when line_class in ('sale', 'return') then 0 else unit_price * quantity end
            as decimal(20, 3)
        ) as adjustments_and_fees_amount,
        customer_no,
        coalesce(country_name, source_country) as country,
        country_code,
        country_region,
        source_country,
        is_return,
        is_non_product,
        non_product_description,
        is_test_customer,
        line_copy_number > 1 as is_duplicate_line,
        concat_ws(
            ',',
            nullif(warning_rules, ''),
            case when country_code is null then 'unknown_country' end
        ) as warning_rules,
        occurred_at,
        kafka_partition,
        kafka_offset,
        source_event_at,
        bronze_batch_id,
        bronze_ingested_at,
        -- when this run (re)computed the line: downstream models pick up every line changed
        -- since their last run, late copies and newly flagged duplicates included
        {{ run_started_at_literal() }} as silver_recomputed_at
    from classified

)

select * from final
