with order_lines as (

    select * from {{ ref('int_sales_lines') }}

),

final as (

    select
        sale_date,
        country,
        cast(sum(line_total) as decimal(18, 2)) as total_revenue,
        cast(sum(quantity) as bigint) as total_quantity,
        cast(count(distinct case when not is_return then transaction_no end) as bigint)
            as total_orders,
        cast(count(distinct customer_no) as bigint) as distinct_customers
    from order_lines
    group by sale_date, country

)

select * from final
