{{
    config(
        materialized='incremental',
        unique_key=['run_id', 'outcome', 'reason'],
        incremental_strategy=lakehouse_incremental_strategy(),
        on_schema_change='fail',
        pre_hook="{{ delete_reasons_of_unrecorded_runs() if is_incremental() }}",
    )
}}

-- The data-quality record, by reason: for each Silver run (int_data_quality_runs), the lines
-- held back per quality rule (quarantined or failed; a line that breaks several rules counts
-- under each) and the trusted lines left out of the count per exclusion reason. Only reasons
-- with lines; appended once per run like its parent, before it: a run's record is complete
-- once its int_data_quality_runs row exists. The reasons of a run killed before that row was
-- written are deleted by the next run (macros/quality_rules/delete_reasons_of_unrecorded_runs.sql).
{#- The run: dbt's id of this invocation and when it started (known once dbt executes). -#}
{%- set run_id = invocation_id if execute else '' -%}
{%- set run_started = run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f') if execute else '' %}
with checked as (

    select
        line_status,
        quarantine_rules,
        fail_rules
    from {{ ref('stg_bronze__order_lines_checked') }}
    where line_status <> 'valid'

),

rules as (

    select rule_id from {{ ref('quality_rules') }}

),

excluded_lines as (

    select * from {{ ref('int_excluded_lines') }}

),

broken as (

    -- the rule lists are comma-separated: match ',rule,' in ',list,'
    select
        checked.line_status as outcome,
        rules.rule_id as reason
    from checked
    inner join rules
        on
            instr(
                concat(
                    ',',
                    case
                        when checked.line_status = 'failed' then checked.fail_rules
                        else checked.quarantine_rules
                    end,
                    ','
                ),
                concat(',', rules.rule_id, ',')
            ) > 0

),

reasons as (

    select
        outcome,
        reason,
        count(*) as line_count
    from broken
    group by outcome, reason

    union all

    select
        'excluded' as outcome,
        exclusion_reason as reason,
        count(*) as line_count
    from excluded_lines
    group by exclusion_reason

),

final as (

    select
        cast('{{ run_id }}' as string) as run_id,
        cast({{ timestamp_literal(run_started) }} as timestamp) as run_at,
        cast(outcome as string) as outcome,
        cast(reason as string) as reason,
        cast(line_count as bigint) as line_count
    from reasons

)

select * from final
