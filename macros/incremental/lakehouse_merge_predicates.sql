{#- Merge predicates for Databricks: only target rows landed within `merge_predicate_days`
    take part in the merge, so a merge reads the recent files (liquid clustering on the
    landing time) instead of the whole table. Safe for models whose rows keep their landing
    time and are only ever re-merged within the lookback; a Gold job paused for longer than
    the window must be rerun with --full-refresh. Other engines: none. -#}
{% macro lakehouse_merge_predicates(column) -%}
    {{ return(adapter.dispatch('lakehouse_merge_predicates')(column)) }}
{%- endmacro %}

{% macro default__lakehouse_merge_predicates(column) -%}
    {{ return(none) }}
{%- endmacro %}

{% macro databricks__lakehouse_merge_predicates(column) -%}
    {{ return([
        "DBT_INTERNAL_DEST." ~ column ~ " >= current_timestamp() - interval "
        ~ var('merge_predicate_days') ~ " days"
    ]) }}
{%- endmacro %}
