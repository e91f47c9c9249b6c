-- One current row per known customer; the country is that of the latest line (by sale
-- date, then event order), so a customer seen in several countries has one, deterministically.
with sales_lines as (

    select * from {{ ref('int_sales_lines') }}
    where customer_no is not null

),

ranked as (

    select
        sales_lines.*,
        row_number() over (
            partition by sales_lines.customer_no
            order by {{ latest_line_first('sales_lines') }}
        ) as recency_rank
    from sales_lines

),

history as (

    select
        customer_no,
        count(distinct source_country) as country_count,
        min(sale_date) as first_purchase_date,
        max(sale_date) as last_purchase_date
    from sales_lines
    group by customer_no

),

final as (

    select
        {{ dbt.hash('ranked.customer_no') }} as customer_key,
        ranked.customer_no,
        {{ dbt.hash("coalesce(ranked.country_code, 'unknown')") }} as country_key,
        ranked.country as current_country,
        cast(history.country_count as int) as country_count,
        history.first_purchase_date,
        history.last_purchase_date
    from ranked
    inner join history
        on ranked.customer_no = history.customer_no
    where ranked.recency_rank = 1

)

select * from final
