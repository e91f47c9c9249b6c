{#- Make the Bronze Delta table visible as the dbt source `bronze.sales_transactions`.
    - duckdb: nothing to do, dbt-duckdb's delta plugin reads the table (see the source's meta).
    - spark: an external Delta table over the Bronze folder (`using delta location`), made
      again on every run so it always names the folder of this run's data directory;
      dropping an external table leaves its files alone. Delta reads the live files the log
      names, not the files a compaction replaced that stay in the folder until vacuum.
    - databricks: Bronze is a real Unity Catalog table written by the ingester. -#}
{% macro register_bronze_source() -%}
    {{ return(adapter.dispatch('register_bronze_source')()) }}
{%- endmacro %}

{% macro default__register_bronze_source() -%}
    select 1
{%- endmacro %}

{% macro spark__register_bronze_source() -%}
    {% if execute %}
        {%- set location = env_var(
            'BRONZE_TABLE_PATH', env_var('LAKEHOUSE_DATA_DIR', 'data') ~ '/bronze/sales_transactions'
        ) -%}
        {% do run_query('create database if not exists bronze') %}
        {%- set existing = adapter.get_relation(
            database=none, schema='bronze', identifier='sales_transactions'
        ) -%}
        {% if existing is not none %}
            {% do run_query(
                'drop ' ~ ('view' if existing.is_view else 'table') ~ ' bronze.sales_transactions'
            ) %}
        {% endif %}
        {% do run_query(
            "create table bronze.sales_transactions using delta location '" ~ location ~ "'"
        ) %}
    {% endif %}
    select 1
{%- endmacro %}

{% macro databricks__register_bronze_source() -%}
    select 1
{%- endmacro %}
