-- Every rule in seeds/quality_rules.csv has a condition in macros/quality_rules.sql and
-- every condition has a row in the seed: a rule missing from either would never fire.
with in_code as (

    {{ rule_ids_in_code() }}

),

in_seed as (

    select rule_id from {{ ref('quality_rules') }}

),

final as (

    select
        coalesce(in_code.rule_id, in_seed.rule_id) as rule_id,
        case
            when in_seed.rule_id is null then 'condition without a seed row'
            else 'seed row without a condition'
        end as problem
    from in_code
    full outer join in_seed
        on in_code.rule_id = in_seed.rule_id
    where in_code.rule_id is null or in_seed.rule_id is null

)

select * from final
