-- One current row per known customer; the country is that of the latest line (by sale
-- date, then event order), so a customer seen in several countries has one, deterministically.
-- Built from int_customer_state and int_customer_countries, which Silver keeps
-- incrementally: a run costs the customers, not the history of their lines.
with state as (

    select * from {{ ref('int_customer_state') }}

),

countries as (

    select
        customer_no,
        count(*) as country_count
    from {{ ref('int_customer_countries') }}
    group by customer_no

),

final as (

    select
        {{ dbt.hash('state.customer_no') }} as customer_key,
        state.customer_no,
        {{ dbt.hash("coalesce(state.country_code, 'unknown')") }} as country_key,
        state.country as current_country,
        cast(coalesce(countries.country_count, 0) as int) as country_count,
        state.first_sale_date as first_purchase_date,
        state.last_sale_date as last_purchase_date
    from state
    left join countries
        on state.customer_no = countries.customer_no

)

select * from final
