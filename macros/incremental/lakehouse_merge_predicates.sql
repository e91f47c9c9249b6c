{#- Merge predicates on Delta (Databricks, and the Spark SQL check: dbt-databricks dispatches
    to spark__ too): only target rows landed within `merge_predicate_days` take part in the
    merge, so a merge reads the recent files (liquid clustering on the landing time on
    Databricks) instead of the whole table. Safe for models whose rows keep their landing
    time and are only ever re-merged within the lookback; a Gold job paused for longer than
    the window must be rerun with --full-refresh. DuckDB: none. -#}
{% macro lakehouse_merge_predicates(column) -%}
    {{ return(adapter.dispatch('lakehouse_merge_predicates')(column)) }}
{%- endmacro %}

{% macro default__lakehouse_merge_predicates(column) -%}
    {{ return(none) }}
{%- endmacro %}

{% macro spark__lakehouse_merge_predicates(column) -%}
    {{ return([
        "DBT_INTERNAL_DEST." ~ column ~ " >= current_timestamp() - interval "
        ~ var('merge_predicate_days') ~ " days"
    ]) }}
{%- endmacro %}
