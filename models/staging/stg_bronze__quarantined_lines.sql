-- Quarantine: events that broke a quarantine (or fail) rule, with every rule they broke,
-- the raw payload as received and their Bronze coordinates, to explain and replay them.
with checked as (

    select * from {{ ref('stg_bronze__order_lines_checked') }}
    where line_status <> 'valid'

),

final as (

    select
        event_key,
        event_id,
        line_status,
        quarantine_rules,
        fail_rules,
        warning_rules,
        parse_error,
        raw_value,
        kafka_topic,
        kafka_partition,
        kafka_offset,
        bronze_batch_id,
        bronze_ingested_at
    from checked

)

select * from final
