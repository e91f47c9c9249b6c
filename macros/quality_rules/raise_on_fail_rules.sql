{#- Post-hook: stop the run when any event broke a rule of severity `fail`. -#}
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
                "Silver stopped: events broke rules of severity 'fail' (" ~ parts | join(", ")
                ~ "). They are kept in " ~ this ~ " with line_status = 'failed'. Fix the"
                ~ " producer, or change the rule's severity in seeds/quality_rules.csv and"
                ~ " rebuild with --full-refresh."
            ) }}
        {%- endif -%}
    {%- endif -%}
    select 1
{%- endmacro %}
