{{ config(materialized='view') }}

-- Where every line Silver checked stopped, and why: counted (in Gold), quarantined or failed
-- (a quality rule; the rules it broke), excluded (valid, but Silver does not count it; the
-- reason), or pending (valid, not yet in a Gold build). The one definition of a line's
-- status: the analytics API's order trace reads it, and so can Power BI. A view, so a line's
-- status is always that of the Gold build it is read with.
with checked as (

    select * from {{ ref('stg_bronze__order_lines_checked') }}

),

excluded as (

    select
        event_id,
        exclusion_reason
    from {{ ref('int_excluded_lines') }}

),

sales as (

    select
        event_id,
        sales_line_key,
        net_amount
    from {{ ref('fct_sales_lines') }}

),

traced as (

    select
        checked.*,
        excluded.exclusion_reason,
        sales.net_amount,
        case
            when sales.sales_line_key is not null then 'counted'
            when checked.line_status = 'quarantined' then 'quarantined'
            when checked.line_status = 'failed' then 'failed'
            when excluded.exclusion_reason is not null then 'excluded'
            else 'pending'
        end as traced_status
    from checked
    left join excluded on checked.event_id = excluded.event_id
    left join sales on checked.event_id = sales.event_id

),

final as (

    select
        cast(event_key as string) as event_key,
        cast(event_id as string) as event_id,
        cast(transaction_no as string) as transaction_no,
        cast(product_no as string) as product_no,
        cast(product_name as string) as product_name,
        cast(sale_date as date) as sale_date,
        cast(quantity as int) as quantity,
        cast(unit_price as decimal(18, 3)) as unit_price,
        cast(customer_no as string) as customer_no,
        cast(source_country as string) as source_country,
        cast(is_return as boolean) as is_return,
        cast(traced_status as string) as line_status,
        cast(
            case traced_status
                when 'quarantined'
                    then coalesce(nullif(replace(quarantine_rules, ',', ', '), ''), 'quarantined')
                when 'failed' then coalesce(nullif(replace(fail_rules, ',', ', '), ''), 'failed')
                when 'excluded' then exclusion_reason
                when 'pending' then 'valid in Silver, not yet in a Gold build'
            end as string
        ) as status_reason,
        cast(warning_rules as string) as warning_rules,
        cast(net_amount as decimal(20, 3)) as net_amount,
        cast(kafka_topic as string) as kafka_topic,
        cast(kafka_partition as int) as kafka_partition,
        cast(kafka_offset as bigint) as kafka_offset,
        cast(source_event_at as timestamp) as source_event_at,
        cast(bronze_batch_id as bigint) as bronze_batch_id,
        cast(bronze_ingested_at as timestamp) as bronze_ingested_at
    from traced

)

select * from final
