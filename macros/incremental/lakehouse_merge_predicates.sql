{#- The merge window: an incremental merge (Delta) or delete+insert (DuckDB) only touches
    target rows landed since a floor, so it reads the recent files or row groups (liquid
    clustering on the landing time on Databricks, zone maps on DuckDB), not the whole table.

    The floor must reach every earlier copy of every event the merge brings, or a copy whose
    first copy landed before it matches nothing and is inserted a second time. It is anchored
    on the slice being merged:

        floor = least(now - merge_predicate_days days,
                      oldest event time in the slice - event_clock_slack_minutes)

    An event's time is the least of the model's `event_time_columns` (the checked log:
    occurred_at, source_event_at; the fact: source_event_at, bronze_ingested_at). A first copy
    cannot land before its event existed, so a copy that keeps its event time keeps its first
    copy above the floor however late it comes: the outbox relay and its replay send the stored
    payload again (the same occurred_at), a second read of one Kafka record has its timestamp,
    a fact line keeps the landing time of its Silver row. The slack covers producer clocks
    running ahead of Bronze's. With merge_predicate_days 0 (the default) the window follows
    the events only, so a run's cost follows its slice, not the history (issue 21); a producer
    that stamps a fresh event time on a copy it sends again (the CSV producer publishing a
    file a second time) needs merge_predicate_days to cover its republishing. A slice with an
    event that has none of its times merges without the predicate (the whole table); an
    empty slice has no floor and touches nothing.

    Delta MERGE takes no subquery in its ON condition (DELTA_UNSUPPORTED_SUBQUERY, from
    DeltaMergeInto's check of the "search" condition), and dbt fixes a model's config when it
    parses the project, before any query can run. So lakehouse_merge_predicates returns the
    N-day predicate with the event-time columns in a marker comment, and get_merge_sql and
    get_delete_insert_merge_sql below (the project's take the place of dbt's; dbt-spark's,
    dbt-databricks' and dbt-duckdb's incremental strategies call them) swap a marked predicate
    for the floor, computed when the merge runs from the merge's source: the temp view (or
    table) of the new slice, nothing else. Cost and limit: a view's query runs twice (the
    floor, then the merge); a copy landing in Bronze between the two, more than the window
    after its first copy, is not in the floor's slice. -#}
{% macro lakehouse_merge_predicates(column, event_time_columns) -%}
    {{ return(adapter.dispatch('lakehouse_merge_predicates')(column, event_time_columns)) }}
{%- endmacro %}

{% macro default__lakehouse_merge_predicates(column, event_time_columns) -%}
    {{ return(lakehouse_merge_window_marker(column, event_time_columns)) }}
{%- endmacro %}

{% macro spark__lakehouse_merge_predicates(column, event_time_columns) -%}
    {{ return(lakehouse_merge_window_marker('DBT_INTERNAL_DEST.' ~ column, event_time_columns)) }}
{%- endmacro %}

{% macro lakehouse_merge_window_marker(column, event_time_columns) -%}
    {{ return([
        column ~ " >= current_timestamp() - interval "
        ~ var('merge_predicate_days') ~ " days"
        ~ " /* lakehouse_merge_window: " ~ event_time_columns | join(', ') ~ " */"
    ]) }}
{%- endmacro %}

{#- dbt's get_merge_sql (dbt-spark's merge strategy and dbt-databricks' both call it; a root
    project macro takes the place of dbt's), with the merge window resolved; then dbt's own. -#}
{% macro get_merge_sql(target, source, unique_key, dest_columns, incremental_predicates=none) -%}
    {%- set incremental_predicates = kwargs.get('predicates', incremental_predicates) -%}
    {{ return(dbt.get_merge_sql(
        target, source, unique_key, dest_columns,
        lakehouse_resolve_merge_window(incremental_predicates, source)
    )) }}
{%- endmacro %}

{#- dbt's get_delete_insert_merge_sql (dbt-duckdb's delete+insert strategy calls it), with the
    merge window resolved; then the adapter's own. -#}
{% macro get_delete_insert_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) -%}
    {{ return(adapter.dispatch('get_delete_insert_merge_sql', 'dbt')(
        target, source, unique_key, dest_columns,
        lakehouse_resolve_merge_window(incremental_predicates, source)
    )) }}
{%- endmacro %}

{#- The predicates with each marked one replaced by `<column> >= <floor>` (a timestamp
    literal), the floor computed from `source`; dropped when an event of `source` has no
    event time. Every other predicate as it is. -#}
{% macro lakehouse_resolve_merge_window(predicates, source) -%}
    {%- set marker = ' /* lakehouse_merge_window: ' -%}
    {%- if not execute or predicates is none or predicates is string -%}
        {{ return(predicates) }}
    {%- endif -%}
    {%- set resolved = [] -%}
    {%- for predicate in predicates -%}
        {%- if marker not in predicate -%}
            {%- do resolved.append(predicate) -%}
        {%- else -%}
            {%- set head, tail = predicate.split(marker) -%}
            {%- set column = head.split(' >= ')[0] -%}
            {%- set columns = tail.replace(' */', '').split(', ') -%}
            {%- set found = event_time_floor(source, columns) -%}
            {%- if found.untimed > 0 -%}
                {{ log(this ~ ": an event of the slice has no " ~ columns | join(' or ')
                    ~ "; merging without the merge window (the whole table)", info=true) }}
            {%- elif found.floor is none -%}
                {#- an empty slice: nothing to meet, the window excludes every row -#}
                {%- do resolved.append('1 = 0') -%}
            {%- else -%}
                {%- do resolved.append(column ~ ' >= ' ~ found.floor) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(resolved) }}
{%- endmacro %}
