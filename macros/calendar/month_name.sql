{#- The English name of a date's month (January ... December). -#}
{% macro month_name(date_expression) -%}
    {{ return(adapter.dispatch('month_name')(date_expression)) }}
{%- endmacro %}

{% macro default__month_name(date_expression) -%}
    date_format({{ date_expression }}, 'MMMM')
{%- endmacro %}

{% macro duckdb__month_name(date_expression) -%}
    monthname({{ date_expression }})
{%- endmacro %}
