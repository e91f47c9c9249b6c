with country_codes as (

    select * from {{ ref('country_codes') }}

),

countries as (

    -- one row per ISO code (the source spells some countries more than one way);
    -- plus the member that lines with a country outside the seed point to
    select distinct
        iso_code,
        country_name,
        region
    from country_codes

    union all

    select
        'unknown' as iso_code,
        'Unknown' as country_name,
        'Unknown' as region

),

final as (

    select
        {{ dbt.hash('iso_code') }} as country_key,
        iso_code,
        country_name,
        region
    from countries

)

select * from final
