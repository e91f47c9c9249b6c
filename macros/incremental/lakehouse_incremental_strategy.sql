{#- Incremental strategy per engine: merge on Delta (Databricks and the Spark SQL check),
    delete+insert on DuckDB. -#}
{% macro lakehouse_incremental_strategy() -%}
    {{ return(adapter.dispatch('lakehouse_incremental_strategy')()) }}
{%- endmacro %}

{% macro default__lakehouse_incremental_strategy() -%}
    {{ return('merge') }}
{%- endmacro %}

{% macro duckdb__lakehouse_incremental_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro %}
