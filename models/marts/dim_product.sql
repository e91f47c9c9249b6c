-- One current row per product: the name and price of its latest line (by sale date, then
-- event order), so a renamed or re-priced product shows what it is now.
with sales_lines as (

    select * from {{ ref('int_sales_lines') }}

),

ranked as (

    select
        sales_lines.*,
        row_number() over (
            partition by sales_lines.product_no
            order by {{ latest_line_first('sales_lines') }}
        ) as recency_rank
    from sales_lines

),

history as (

    select
        product_no,
        count(distinct product_name) as name_count,
        min(sale_date) as first_sold_date,
        max(sale_date) as last_sold_date
    from sales_lines
    group by product_no

),

final as (

    select
        {{ dbt.hash('ranked.product_no') }} as product_key,
        ranked.product_no,
        ranked.product_name,
        ranked.unit_price as current_unit_price,
        cast(history.name_count as int) as name_count,
        ranked.is_non_product,
        ranked.non_product_description,
        history.first_sold_date,
        history.last_sold_date
    from ranked
    inner join history
        on ranked.product_no = history.product_no
    where ranked.recency_rank = 1

)

select * from final
