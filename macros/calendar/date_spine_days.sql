{#- One row per day from start to end (both date expressions of a one-row relation). -#}
{% macro date_spine_days(start_date, end_date) -%}
    {{ return(adapter.dispatch('date_spine_days')(start_date, end_date)) }}
{%- endmacro %}

{% macro default__date_spine_days(start_date, end_date) -%}
    explode(sequence({{ start_date }}, {{ end_date }}, interval 1 day))
{%- endmacro %}

{% macro duckdb__date_spine_days(start_date, end_date) -%}
    unnest(generate_series({{ start_date }}, {{ end_date }}, interval 1 day))
{%- endmacro %}
