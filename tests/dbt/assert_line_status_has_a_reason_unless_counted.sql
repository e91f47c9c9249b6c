-- A line's trace (gold.fct_order_line_status) gives a reason for every status but counted, and
-- none for a counted line: the reason is derived from the status, so a status without its
-- branch would show here.
select
    event_key,
    line_status,
    status_reason
from {{ ref('fct_order_line_status') }}
where (line_status = 'counted') = (status_reason is not null)
