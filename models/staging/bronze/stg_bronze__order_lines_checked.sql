{{
    config(
        materialized='incremental',
        unique_key='event_key',
        incremental_strategy=lakehouse_incremental_strategy(),
        on_schema_change='fail',
        incremental_predicates=lakehouse_merge_predicates(
            'bronze_ingested_at', ['occurred_at', 'source_event_at']
        ),
        liquid_clustered_by=['bronze_ingested_at'],
    )
}}

{%- set bronze = source('bronze', 'sales_transactions') -%}
{%- if is_incremental() -%}
    {%- set since = high_water_mark('bronze_ingested_at', var('silver_lookback_hours')) -%}
    {#- where an earlier copy of an event of the slice can be: landed since its event time
        less the slack (lakehouse_merge_predicates), so the lookup below reads those rows -#}
    {%- set earlier_copies = bronze_copies_floor(bronze, since) -%}
{%- endif %}

with source as (

    select * from {{ bronze }}
    {% if is_incremental() %}
        -- only Bronze rows newer than what Silver has seen, minus a window for late events
        where ingested_at > {{ since }}
    {% endif %}

),

keyed as (

    -- an event's id is its key only when Bronze parsed it and the id has the trusted form;
    -- otherwise its Kafka coordinates identify it (never merged with another record)
    select
        source.*,
        {{ bronze_event_key('source') }} as event_key
    from source

),

deduplicated as (

    -- at-least-once transport: one copy per event, the earliest by Kafka coordinates
    select * from (
        select
            keyed.*,
            row_number() over (
                partition by keyed.event_key
                order by keyed.ingested_at, keyed.kafka_partition, keyed.kafka_offset
            ) as copy_number
        from keyed
    ) as numbered
    where copy_number = 1

),

new_events as (

    select * from deduplicated
    {% if is_incremental() %}
        where not exists (
            select 1 from {{ this }} as already_checked
            where
                already_checked.event_key = deduplicated.event_key
                and {{ landed_since(earlier_copies, 'already_checked.bronze_ingested_at') }}
        )
    {% endif %}

),

typed as (

    select
        event_key,
        event_id,
        event_type,
        {{ to_integer('schema_version') }} as schema_version,
        try_cast(occurred_at as timestamp) as occurred_at,
        nullif(trim(transaction_no), '') as transaction_no,
        {{ parse_date_mdy('line_date') }} as sale_date,
        nullif(upper(trim(product_no)), '') as product_no,
        nullif(trim(product_name), '') as product_name,
        {{ to_decimal('price') }} as unit_price,
        {{ to_integer('quantity') }} as quantity,
        {{ normalize_customer_no('customer_no') }} as customer_no,
        nullif(trim(country), '') as source_country,
        coalesce(trim(transaction_no) like 'C%', false) as is_return,
        -- product stock codes start with a digit; service codes (POST, M, ...) do not
        coalesce(not ({{ matches_pattern('trim(product_no)', '[0-9].*') }}), false)
            as is_non_product,
        parse_error,
        invalid_utf8,
        raw_value,
        -- the bytes as received, where the text copy is not exact (not valid UTF-8)
        case when invalid_utf8 like '%value%' then raw_value_bytes end as raw_value_bytes,
        kafka_topic,
        kafka_partition,
        kafka_offset,
        cast(kafka_timestamp as timestamp) as source_event_at,
        bronze_batch_id,
        ingested_at as bronze_ingested_at
    from new_events

),

rule_severity as (

    -- one row: the severity of each rule, from the quality_rules seed
    {{ rule_severities_row() }}

),

checked as (

    select
        typed.*,
        {{ broken_rules('fail') }} as fail_rules,
        {{ broken_rules('quarantine') }} as quarantine_rules,
        {{ broken_rules('warn') }} as warning_rules
    from typed
    cross join rule_severity

),

final as (

    select
        checked.*,
        case
            when checked.fail_rules <> '' then 'failed'
            when checked.quarantine_rules <> '' then 'quarantined'
            else 'valid'
        end as line_status
    from checked

)

select * from final
