-- Customer value (RFM): recency, frequency and monetary value as of the day after the
-- latest sale, scored 1-5 by quintile (ties broken by customer number) and segmented.
-- Built from int_customer_transactions (one row per customer and transaction, kept
-- incrementally): a run costs the transactions, not the lines.
with transactions as (

    -- what customers bought and returned: service lines (postage, fees, ...) do not count
    select * from {{ ref('int_customer_transactions') }}

),

as_of as (

    select cast({{ dbt.dateadd('day', 1, 'max(last_sale_date)') }} as date) as as_of_date
    from transactions

),

per_customer as (

    select
        customer_key,
        max(last_sale_date) as last_purchase_date,
        sum(is_purchase) as frequency,
        sum(net_amount) as monetary
    from transactions
    group by customer_key

),

scored as (

    select
        per_customer.*,
        {{ dbt.datediff('per_customer.last_purchase_date', 'as_of.as_of_date', 'day') }}
            as recency_days,
        ntile(5) over (
            order by per_customer.last_purchase_date asc, per_customer.customer_key asc
        ) as recency_score,
        ntile(5) over (
            order by per_customer.frequency asc, per_customer.customer_key asc
        ) as frequency_score,
        ntile(5) over (
            order by per_customer.monetary asc, per_customer.customer_key asc
        ) as monetary_score,
        as_of.as_of_date
    from per_customer
    cross join as_of

),

final as (

    select
        customer_key,
        as_of_date,
        last_purchase_date,
        cast(recency_days as int) as recency_days,
        cast(frequency as bigint) as frequency,
        cast(monetary as decimal(18, 2)) as monetary,
        cast(recency_score as int) as recency_score,
        cast(frequency_score as int) as frequency_score,
        cast(monetary_score as int) as monetary_score,
        case
            when recency_score >= 4 and frequency_score >= 4 then 'champions'
            when frequency_score >= 4 then 'loyal'
            when recency_score <= 2 and frequency_score >= 3 then 'at_risk'
            when recency_score >= 4 and frequency_score <= 2 then 'new_or_occasional'
            when recency_score <= 2 then 'hibernating'
            else 'regular'
        end as rfm_segment
    from scored

)

select * from final
