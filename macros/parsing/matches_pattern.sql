{#- True when the whole text matches a regular expression (RE2/Java syntax, no backslashes). -#}
{% macro matches_pattern(expression, pattern) -%}
    {{ return(adapter.dispatch('matches_pattern')(expression, pattern)) }}
{%- endmacro %}

{% macro default__matches_pattern(expression, pattern) -%}
    regexp_like({{ expression }}, '^{{ pattern }}$')
{%- endmacro %}

{% macro duckdb__matches_pattern(expression, pattern) -%}
    regexp_full_match({{ expression }}, '{{ pattern }}')
{%- endmacro %}
