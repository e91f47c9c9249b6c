{#- Post-hook of stg_bronze__quarantined_lines, a model nothing depends on: when events broke
    a rule of severity `fail`, the build fails loudly here, after Silver and Gold were built
    with every other event (the failed ones are held back: line_status 'failed', in no Silver
    line). The message says how to resume. It fails every run until they are dealt with. -#}
{% macro raise_on_fail_rules() -%}
    {%- if execute -%}
        {%- set result = run_query(
            "select fail_rules, count(*) from " ~ this
            ~ " where line_status = 'failed' group by fail_rules order by fail_rules"
        ) -%}
        {%- if result.rows | length > 0 -%}
            {%- set parts = [] -%}
            {%- for row in result.rows -%}
                {%- do parts.append(row[0] ~ ": " ~ row[1]) -%}
            {%- endfor -%}
            {{ exceptions.raise_compiler_error(
                "Silver held back events that broke rules of severity 'fail' (" ~ parts | join(", ")
                ~ "). Every other event was checked and built into Silver and Gold; these are in "
                ~ this ~ " with line_status = 'failed' (raw payload included) and in no Silver line."
                ~ " To resume: deploy a pipeline that reads them, or set the rule's severity to"
                ~ " quarantine (seeds/quality_rules.csv, then `dbt seed`; or var"
                ~ " quality_rule_severities), then rebuild the checked log and what follows with"
                ~ " `dbt build --full-refresh --select stg_bronze__order_lines_checked+`."
                ~ " This check fails every run until then."
            ) }}
        {%- endif -%}
    {%- endif -%}
    select 1
{%- endmacro %}
