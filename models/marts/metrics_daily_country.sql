with sales_lines as (

    select * from {{ ref('int_sales_lines') }}

),

daily as (

    select
        sale_date,
        country,
        sum(line_total) as net_revenue,
        sum(gross_amount) as gross_revenue,
        sum(return_amount) as returns_value,
        sum(quantity) as net_quantity,
        count(distinct case when not is_return then transaction_no end) as sales_orders,
        count(distinct customer_no) as customers
    from sales_lines
    group by sale_date, country

),

final as (

    select
        sale_date,
        country,
        cast(net_revenue as decimal(18, 2)) as total_revenue,
        cast(net_quantity as bigint) as total_quantity,
        cast(sales_orders as bigint) as total_orders,
        cast(customers as bigint) as distinct_customers,
        cast(gross_revenue as decimal(18, 2)) as gross_revenue,
        cast(returns_value as decimal(18, 2)) as returns_value,
        cast(returns_value / nullif(gross_revenue, 0) as decimal(18, 4)) as return_rate,
        cast(gross_revenue / nullif(sales_orders, 0) as decimal(18, 4)) as average_order_value
    from daily

)

select * from final
