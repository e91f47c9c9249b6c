-- Valid lines the business does not count, and why: so that no one wonders where rows went.
with enriched as (

    select * from {{ ref('int_order_lines_enriched') }}

),

final as (

    select
        event_id,
        transaction_no,
        sale_date,
        product_no,
        customer_no,
        line_class,
        line_total,
        case
            when is_test_customer then 'test_customer'
            else 'duplicate_line'
        end as exclusion_reason,
        bronze_ingested_at,
        silver_recomputed_at
    from enriched
    where is_test_customer or is_duplicate_line

)

select * from final
