-- Bronze events = Silver lines + quarantined (+ failed) lines + removed duplicates, per
-- micro-batch, with nothing unaccounted. Bronze is counted here on its own, straight from the
-- source (int_bronze_reconciliation's bronze_events is the sum of its outcomes by
-- construction), so a batch the reconciliation lost, invented or miscounted fails the test.
with bronze_batches as (

    select
        bronze_batch_id,
        count(*) as bronze_events
    from {{ source('bronze', 'sales_transactions') }}
    group by bronze_batch_id

),

reconciliation as (

    select * from {{ ref('int_bronze_reconciliation') }}

)

select
    coalesce(bronze_batches.bronze_batch_id, reconciliation.bronze_batch_id) as bronze_batch_id,
    bronze_batches.bronze_events as bronze_events_counted,
    reconciliation.silver_lines,
    reconciliation.quarantined_lines,
    reconciliation.failed_lines,
    reconciliation.duplicates_removed,
    reconciliation.unaccounted_events
from bronze_batches
full outer join reconciliation
    on bronze_batches.bronze_batch_id = reconciliation.bronze_batch_id
where
    bronze_batches.bronze_batch_id is null
    or reconciliation.bronze_batch_id is null
    or reconciliation.unaccounted_events <> 0
    or bronze_batches.bronze_events
    <> reconciliation.silver_lines + reconciliation.quarantined_lines
    + reconciliation.failed_lines + reconciliation.duplicates_removed
