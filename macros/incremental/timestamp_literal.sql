{#- A UTC timestamp literal (Spark and Databricks sessions run in UTC, see profiles.yml). -#}
{% macro timestamp_literal(text) -%}
    {{ return(adapter.dispatch('timestamp_literal')(text)) }}
{%- endmacro %}

{% macro default__timestamp_literal(text) -%}
    cast('{{ text }}' as timestamp)
{%- endmacro %}

{% macro duckdb__timestamp_literal(text) -%}
    cast('{{ text }}+00:00' as timestamptz)
{%- endmacro %}
