{#- The start of this dbt run (dbt gives it in UTC) as a UTC timestamp literal: the same
    value in every model of the run. -#}
{% macro run_started_at_literal() -%}
    {{ return(timestamp_literal(run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f'))) }}
{%- endmacro %}
