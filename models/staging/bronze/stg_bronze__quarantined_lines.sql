{{
    config(
        post_hook={"sql": "{{ raise_on_fail_rules() }}", "transaction": false},
        tags=['every_run'],
    )
}}

-- Quarantine: events that broke a quarantine (or fail) rule, with every rule they broke,
-- the raw payload as received and their Bronze coordinates, to explain and replay them.
-- Nothing depends on this model: its post-hook fails the build loudly when events broke a
-- rule of severity fail, after everything else was built (raise_on_fail_rules). Tagged
-- every_run: the runner's lean runs, which leave the views out, still take it.
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
        invalid_utf8,
        raw_value,
        raw_value_bytes,
        kafka_topic,
        kafka_partition,
        kafka_offset,
        bronze_batch_id,
        bronze_ingested_at
    from checked

)

select * from final
