-- The lines the business counts: test customers and the source's exact duplicate lines
-- are left out here (and counted in int_excluded_lines), nowhere else.
with enriched as (

    select * from {{ ref('int_order_lines_enriched') }}

),

final as (

    select * from enriched
    where
        not is_test_customer
        and not is_duplicate_line

)

select * from final
