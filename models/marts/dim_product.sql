-- One current row per product: the name and price of its latest line (by sale date, then
-- event order), so a renamed or re-priced product shows what it is now. Built from
-- int_product_state and int_product_names, which Silver keeps incrementally: a run costs
-- the products, not the history of their lines.
with state as (

    select * from {{ ref('int_product_state') }}

),

names as (

    select
        product_no,
        count(*) as name_count
    from {{ ref('int_product_names') }}
    group by product_no

),

final as (

    select
        {{ dbt.hash('state.product_no') }} as product_key,
        state.product_no,
        state.product_name,
        state.unit_price as current_unit_price,
        cast(coalesce(names.name_count, 0) as int) as name_count,
        state.is_non_product,
        state.non_product_description,
        state.first_sale_date as first_sold_date,
        state.last_sale_date as last_sold_date
    from state
    left join names
        on state.product_no = names.product_no

)

select * from final
