-- Every distinct event in Bronze is in Silver governance exactly once (as a valid,
-- quarantined or failed line), and every Silver row is the copy of one Bronze row.
with bronze as (

    select count(distinct {{ bronze_event_key('bronze_rows') }}) as events
    from {{ source('bronze', 'sales_transactions') }} as bronze_rows

),

checked as (

    select
        count(*) as events,
        count(distinct event_key) as distinct_events
    from {{ ref('stg_bronze__order_lines_checked') }}

)

select
    bronze.events as bronze_events,
    checked.events as checked_events
from bronze
cross join checked
where
    bronze.events <> checked.events
    or checked.events <> checked.distinct_events
