{#- The English name of a date's weekday (Monday ... Sunday). -#}
{% macro day_name(date_expression) -%}
    {{ return(adapter.dispatch('day_name')(date_expression)) }}
{%- endmacro %}

{% macro default__day_name(date_expression) -%}
    date_format({{ date_expression }}, 'EEEE')
{%- endmacro %}

{% macro duckdb__day_name(date_expression) -%}
    dayname({{ date_expression }})
{%- endmacro %}
