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

{#- Customer numbers as string keys: trimmed, "17490.0" read as "17490", blank as null. -#}
{% macro normalize_customer_no(expression) -%}
    nullif(regexp_replace(trim({{ expression }}), '[.]0+$', ''), '')
{%- endmacro %}

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
