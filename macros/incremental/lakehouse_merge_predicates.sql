{#- Merge predicates on Delta (Databricks, and the Spark SQL check: dbt-databricks dispatches
    to spark__ too). A merge only reads target rows landed since a floor, so it reads the
    recent files (liquid clustering on the landing time on Databricks), not the whole table.
    DuckDB: none.

    The floor must reach every earlier copy of every event the merge brings, or a copy whose
    first copy landed before it matches nothing and is inserted a second time. A floor counted
    back from now only (`now - merge_predicate_days`, as before issue 19) misses the first copy
    of an event redelivered more than merge_predicate_days later. So the floor is also
    anchored on the slice being merged:

        floor = least(now - merge_predicate_days days,
                      oldest event time in the slice - 1 day)

    An event's time is the least of the model's `event_time_columns` (the checked log:
    occurred_at, source_event_at; the fact: source_event_at, bronze_ingested_at). A first copy
    cannot land before its event existed, so a copy that keeps its event time keeps its first
    copy above the floor however late it comes: the outbox relay and its replay send the stored
    payload again (the same occurred_at), a second read of one Kafka record has its timestamp,
    a fact line keeps the landing time of its Silver row. The day of slack covers producer
    clocks running ahead of Bronze's. Why not the slice's event time alone (narrower): a file
    the CSV producer publishes again carries a fresh occurred_at and Kafka timestamp
    (ingest/producer.py stamps the time of sending), so only the N days from now keep those
    first copies inside, as before. A slice with an event that has none of its times merges
    without the predicate (the whole table). Normally the floor is the N days from now; it
    widens only for a slice holding an older event (a late copy, a replay, Gold resuming after
    a pause, which no longer needs --full-refresh).

    Delta MERGE takes no subquery in its ON condition (DELTA_UNSUPPORTED_SUBQUERY, from
    DeltaMergeInto's check of the "search" condition), and dbt fixes a model's config when it
    parses the project, before any query can run. So lakehouse_merge_predicates returns the
    N-day predicate with the event-time columns in a marker comment, and get_merge_sql below
    (the project's takes the place of dbt's; dbt-spark's and dbt-databricks' merges call it)
    swaps a marked predicate for the floor, computed when the merge runs from the merge's
    source: the temp view (or staging table) of the new slice, nothing else. Cost and limit:
    a view's query runs twice (the floor, then the merge); a copy landing in Bronze between
    the two, more than N days after its first copy, is not in the floor's slice. -#}
{% macro lakehouse_merge_predicates(column, event_time_columns) -%}
    {{ return(adapter.dispatch('lakehouse_merge_predicates')(column, event_time_columns)) }}
{%- endmacro %}

{% macro default__lakehouse_merge_predicates(column, event_time_columns) -%}
    {{ return(none) }}
{%- endmacro %}

{% macro spark__lakehouse_merge_predicates(column, event_time_columns) -%}
    {{ return([
        "DBT_INTERNAL_DEST." ~ column ~ " >= current_timestamp() - interval "
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
            {%- set event_time = columns[0] if columns | length == 1
                else 'least(' ~ columns | join(', ') ~ ')' -%}
            {%- set query -%}
                select
                    greatest(
                        least(
                            current_timestamp() - interval {{ var('merge_predicate_days') }} days,
                            min({{ event_time }}) - interval 1 day
                        ),
                        cast('1970-01-01 00:00:00' as timestamp)
                    ) as merge_floor,
                    count(*) - count({{ event_time }}) as without_event_time
                from {{ source }}
            {%- endset -%}
            {%- set result = run_query(query) -%}
            {%- set floor = result.columns[0].values()[0] -%}
            {%- if result.columns[1].values()[0] > 0 -%}
                {{ log(this ~ ": an event of the slice has no " ~ event_time
                    ~ "; merging without the merge window (the whole table)", info=true) }}
            {%- else -%}
                {%- if floor.tzinfo is not none -%}
                    {%- set floor = floor.astimezone(modules.pytz.utc) -%}
                {%- endif -%}
                {%- set literal = timestamp_literal(floor.strftime('%Y-%m-%d %H:%M:%S.%f')) -%}
                {%- do resolved.append(column ~ ' >= ' ~ literal) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(resolved) }}
{%- endmacro %}
