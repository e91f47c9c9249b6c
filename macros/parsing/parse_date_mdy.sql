{#- Parse the source's `M/d/yyyy` dates (12/9/2019 is 9 December 2019); null if unparseable. -#}
{% macro parse_date_mdy(expression) -%}
    {{ return(adapter.dispatch('parse_date_mdy')(expression)) }}
{%- endmacro %}

{% macro default__parse_date_mdy(expression) -%}
    cast(try_to_timestamp(trim({{ expression }}), 'M/d/yyyy') as date)
{%- endmacro %}

{% macro duckdb__parse_date_mdy(expression) -%}
    cast(try_strptime(trim({{ expression }}), '%m/%d/%Y') as date)
{%- endmacro %}
