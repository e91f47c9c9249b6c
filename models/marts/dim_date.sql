-- A complete calendar over the data's range, whole years: days without sales included.
-- Before the first sales line (every event so far quarantined) it is the current year.
with sales_lines as (

    select * from {{ ref('int_sales_lines') }}

),

bounds as (

    select
        cast(concat(cast(year(coalesce(min(sale_date), current_date)) as string), '-01-01') as date)
            as first_day,
        cast(concat(cast(year(coalesce(max(sale_date), current_date)) as string), '-12-31') as date)
            as last_day
    from sales_lines

),

generated as (

    select {{ date_spine_days('first_day', 'last_day') }} as generated_day
    from bounds

),

spine as (

    select cast(generated_day as date) as date_day
    from generated

),

final as (

    select
        cast(year(date_day) * 10000 + month(date_day) * 100 + day(date_day) as int) as date_key,
        date_day,
        cast(year(date_day) as int) as year_number,
        cast(quarter(date_day) as int) as quarter_number,
        cast(month(date_day) as int) as month_number,
        {{ month_name('date_day') }} as month_name,
        cast(weekofyear(date_day) as int) as iso_week_number,
        cast({{ iso_day_of_week('date_day') }} as int) as iso_day_of_week,
        {{ day_name('date_day') }} as day_name,
        {{ iso_day_of_week('date_day') }} >= 6 as is_weekend,
        -- UK fiscal year, April to March, named for the year it starts in
        cast(case when month(date_day) >= 4 then year(date_day) else year(date_day) - 1 end as int)
            as fiscal_year,
        cast(floor(((month(date_day) + 8) % 12) / 3) + 1 as int) as fiscal_quarter,
        cast({{ dbt.date_trunc('month', 'date_day') }} as date) as month_start_date
    from spine

)

select * from final
