-- Bronze events = Silver lines + quarantined (+ failed) lines + removed duplicates, per
-- micro-batch, with nothing unaccounted.
select *
from {{ ref('int_bronze_reconciliation') }}
where
    unaccounted_events <> 0
    or bronze_events
    <> silver_lines + quarantined_lines + failed_lines + duplicates_removed
