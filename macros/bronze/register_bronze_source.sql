{#- Make the Bronze Delta table visible as the dbt source `bronze.sales_transactions`.
    - duckdb: nothing to do, dbt-duckdb's delta plugin reads the table (see the source's meta).
    - spark: the Spark SQL check has no Delta here; Bronze is append-only (no compaction,
      no deletes), so its live files are exactly the parquet files in the folder and an
      external parquet table over that folder reads the same rows.
    - databricks (default): Bronze is a real Unity Catalog table written by the ingester. -#}
{% macro register_bronze_source() -%}
    {{ return(adapter.dispatch('register_bronze_source')()) }}
{%- endmacro %}

{% macro default__register_bronze_source() -%}
    select 1
{%- endmacro %}

{% macro spark__register_bronze_source() -%}
    {% if execute %}
        {% do run_query('create database if not exists bronze') %}
        {% do run_query('drop table if exists bronze.sales_transactions') %}
        {% do run_query(
            "create table bronze.sales_transactions using parquet location '"
            ~ env_var('BRONZE_TABLE_PATH', env_var('LAKEHOUSE_DATA_DIR', 'data') ~ '/bronze/sales_transactions') ~ "'"
        ) %}
        {% do run_query('refresh table bronze.sales_transactions') %}
    {% endif %}
    select 1
{%- endmacro %}

{% macro databricks__register_bronze_source() -%}
    select 1
{%- endmacro %}
