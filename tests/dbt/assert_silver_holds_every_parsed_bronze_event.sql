-- Every distinct event that Bronze parsed is in Silver exactly once: nothing lost, nothing doubled.
with bronze as (

    select count(distinct event_id) as events
    from {{ source('bronze', 'sales_transactions') }}
    where parse_error is null

),

silver as (

    select count(*) as events from {{ ref('stg_bronze__order_lines') }}

)

select
    bronze.events as bronze_events,
    silver.events as silver_events
from bronze
cross join silver
where bronze.events != silver.events
