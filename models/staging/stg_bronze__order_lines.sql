{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy=lakehouse_incremental_strategy(),
        on_schema_change='fail',
    )
}}

with source as (

    select * from {{ source('bronze', 'sales_transactions') }}
    where
        parse_error is null
        {% if is_incremental() %}
        -- only Bronze rows newer than what Silver has seen, minus a window for late events
            and ingested_at > (
                select max(already_loaded.bronze_ingested_at) from {{ this }} as already_loaded
            ) - interval '{{ var("silver_lookback_hours") }}' hour
        {% endif %}

),

deduplicated as (

    -- at-least-once transport: keep one copy per event, the earliest by Kafka coordinates
    select * from (
        select
            source.*,
            row_number() over (
                partition by source.event_id
                order by source.ingested_at, source.kafka_partition, source.kafka_offset
            ) as copy_number
        from source
    ) as numbered
    where copy_number = 1

),

new_events as (

    select * from deduplicated
    {% if is_incremental() %}
        where not exists (
            select 1 from {{ this }} as already_loaded
            where already_loaded.event_id = deduplicated.event_id
        )
    {% endif %}

),

typed as (

    select
        event_id,
        event_type,
        try_cast(schema_version as int) as schema_version,
        try_cast(occurred_at as timestamp) as occurred_at,
        trim(transaction_no) as transaction_no,
        {{ parse_date_mdy('line_date') }} as sale_date,
        trim(product_no) as product_no,
        trim(product_name) as product_name,
        try_cast(trim(price) as decimal(18, 2)) as unit_price,
        try_cast(trim(quantity) as int) as quantity,
        {{ normalize_customer_no('customer_no') }} as customer_no,
        trim(country) as country,
        kafka_partition,
        kafka_offset,
        ingested_at as bronze_ingested_at
    from new_events

),

final as (

    select
        event_id,
        event_type,
        schema_version,
        occurred_at,
        transaction_no,
        sale_date,
        product_no,
        product_name,
        unit_price,
        quantity,
        cast(unit_price * quantity as decimal(18, 2)) as line_amount,
        customer_no,
        country,
        kafka_partition,
        kafka_offset,
        bronze_ingested_at,
        transaction_no like 'C%' as is_return
    from typed

)

select * from final
