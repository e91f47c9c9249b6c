{#- Make the Bronze Delta table visible as the dbt source `bronze.sales_transactions`.
    - duckdb: nothing to do, dbt-duckdb's delta plugin reads the table (see the source's meta).
    - spark: the Spark SQL check has no Delta here: a view over the table's live parquet
      files, read from the Delta log with Spark SQL (the folder also holds files a
      compaction replaced until vacuum deletes them, which a view over the folder would
      read twice).
    - databricks (default): Bronze is a real Unity Catalog table written by the ingester. -#}
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
        {%- set log = "text.`" ~ location ~ "/_delta_log/*.json`" -%}
        {#- the live files: added by a commit of the Delta log and not removed by a later one
            (a compaction removes the small files it rewrote, which stay on disk until vacuum) -#}
        {%- set live = run_query(
            "select get_json_object(value, '$.add.path') as path from " ~ log
            ~ " where get_json_object(value, '$.add.path') is not null"
            ~ " except select get_json_object(value, '$.remove.path') as path from " ~ log
            ~ " where get_json_object(value, '$.remove.path') is not null"
        ).columns[0].values() | sort -%}
        {% do run_query('create database if not exists bronze') %}
        {%- set existing = adapter.get_relation(
            database=none, schema='bronze', identifier='sales_transactions'
        ) -%}
        {% if existing is not none and not existing.is_view %}
            {% do run_query('drop table bronze.sales_transactions') %}
        {% endif %}
        {% do run_query(
            "create or replace view bronze.sales_transactions as select * from parquet.`"
            ~ location ~ "/{" ~ (live | join(',')) ~ "}`"
        ) %}
    {% endif %}
    select 1
{%- endmacro %}

{% macro databricks__register_bronze_source() -%}
    select 1
{%- endmacro %}
