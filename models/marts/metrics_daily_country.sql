with order_lines as (

    select * from {{ ref('stg_bronze__order_lines') }}
    where
        sale_date is not null
        and unit_price is not null
        and quantity is not null

),

final as (

    select
        sale_date,
        country,
        cast(sum(line_amount) as decimal(18, 2)) as total_revenue,
        cast(sum(quantity) as bigint) as total_quantity,
        cast(count(distinct case when not is_return then transaction_no end) as bigint)
            as total_orders,
        cast(count(distinct customer_no) as bigint) as distinct_customers
    from order_lines
    group by sale_date, country

)

select * from final
