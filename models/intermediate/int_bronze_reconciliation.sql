{{
    config(
        materialized='incremental',
        unique_key='bronze_batch_id',
        incremental_strategy=lakehouse_incremental_strategy(),
        on_schema_change='fail',
    )
}}

-- The books of Silver, per Bronze micro-batch: every Bronze row is the kept copy of a valid,
-- quarantined or failed event, or a removed duplicate of one. Nothing may be unaccounted.
-- Incremental: the batches Bronze landed within the lookback window are recounted, against
-- the checked log's rows landed since the oldest event among them (less the slack): where
-- every kept copy of those events is (lakehouse_merge_predicates).
{%- set bronze = source('bronze', 'sales_transactions') -%}
{%- if is_incremental() -%}
    {%- set since = high_water_mark('last_ingested_at', var('silver_lookback_hours')) -%}
    {%- set kept_copies = bronze_copies_floor(bronze, since) -%}
{%- endif %}
with source as (

    select
        source_rows.bronze_batch_id,
        source_rows.kafka_topic,
        source_rows.kafka_partition,
        source_rows.kafka_offset,
        source_rows.ingested_at,
        {{ bronze_event_key('source_rows') }} as event_key
    from {{ bronze }} as source_rows

),

bronze as (

    -- every row of a micro-batch carries the batch's ingestion time, so this keeps whole batches
    select * from source
    {% if is_incremental() %}
        where ingested_at > {{ since }}
    {% endif %}

),

checked as (

    select * from {{ ref('stg_bronze__order_lines_checked') }}
    {% if is_incremental() %}
        where
            event_key in (select bronze.event_key from bronze)
            and {{ landed_since(kept_copies, 'bronze_ingested_at') }}
    {% endif %}

),

known_events as (

    select distinct event_key from checked

),

classified as (

    select
        bronze.bronze_batch_id,
        bronze.ingested_at,
        case
            when kept.event_key is not null then kept.line_status
            when known_events.event_key is not null then 'duplicate'
            else 'unaccounted'
        end as outcome
    from bronze
    left join checked as kept
        on
            bronze.kafka_topic = kept.kafka_topic
            and bronze.kafka_partition = kept.kafka_partition
            and bronze.kafka_offset = kept.kafka_offset
    left join known_events
        on bronze.event_key = known_events.event_key

),

final as (

    select
        bronze_batch_id,
        max(ingested_at) as last_ingested_at,
        count(*) as bronze_events,
        sum(case when outcome = 'valid' then 1 else 0 end) as silver_lines,
        sum(case when outcome = 'quarantined' then 1 else 0 end) as quarantined_lines,
        sum(case when outcome = 'failed' then 1 else 0 end) as failed_lines,
        sum(case when outcome = 'duplicate' then 1 else 0 end) as duplicates_removed,
        sum(case when outcome = 'unaccounted' then 1 else 0 end) as unaccounted_events
    from classified
    group by bronze_batch_id

)

select * from final
