-- Silver lines: the events that passed every quarantine and fail rule (warnings flagged).
with checked as (

    select * from {{ ref('stg_bronze__order_lines_checked') }}
    where line_status = 'valid'

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
        customer_no,
        source_country,
        is_return,
        is_non_product,
        warning_rules,
        kafka_partition,
        kafka_offset,
        source_event_at,
        bronze_batch_id,
        bronze_ingested_at
    from checked

)

select * from final
