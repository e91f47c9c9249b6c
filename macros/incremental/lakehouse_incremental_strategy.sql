{#- Incremental strategy per engine: delete+insert on DuckDB, merge on Databricks (Delta),
    append on the parquet-only Spark check (models that use it only ever add new keys). -#}
{% macro lakehouse_incremental_strategy() -%}
    {{ return(adapter.dispatch('lakehouse_incremental_strategy')()) }}
{%- endmacro %}

{% macro default__lakehouse_incremental_strategy() -%}
    {{ return('merge') }}
{%- endmacro %}

{% macro duckdb__lakehouse_incremental_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro %}

{% macro spark__lakehouse_incremental_strategy() -%}
    {{ return('append') }}
{%- endmacro %}

{% macro databricks__lakehouse_incremental_strategy() -%}
    {{ return('merge') }}
{%- endmacro %}
