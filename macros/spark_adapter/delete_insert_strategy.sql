{#- The delete+insert strategy for dbt-spark on Delta, as dbt-databricks runs it on Delta (a
    DELETE of the keys the run computed, then an INSERT of its rows; dbt-databricks' path
    before DBR 17.1): dbt-spark 1.10 knows append, insert_overwrite, merge and microbatch
    only. These two macros take the place of dbt-spark's own (a root-project macro wins over
    an adapter's) and hand every other strategy to them (the `dbt` namespace). The model's
    query runs twice (keys, rows), so it must not read its own table (no delete+insert model
    does). -#}
{% macro dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format) -%}
    {%- if raw_strategy == 'delete+insert' and file_format == 'delta' -%}
        {{ return(raw_strategy) }}
    {%- endif -%}
    {{ return(dbt.dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format)) }}
{%- endmacro %}

{% macro dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) -%}
    {%- if strategy != 'delete+insert' -%}
        {{ return(dbt.dbt_spark_get_incremental_sql(
            strategy, source, target, existing, unique_key, incremental_predicates
        )) }}
    {%- endif -%}
    {%- if unique_key is not string or incremental_predicates -%}
        {{ exceptions.raise_compiler_error(
            'delete+insert on Spark takes one unique_key column and no incremental_predicates'
        ) }}
    {%- endif -%}
    {% do run_query(delete_rows_by_key(target, unique_key, 'select ' ~ unique_key ~ ' from ' ~ source)) %}
    {{ return(get_insert_into_sql(source, target)) }}
{%- endmacro %}
