{#- fct_sales_lines' pre-hook: delete the fact rows of lines Silver has excluded since the
    fact's last run (int_excluded_lines: a late, earlier copy made a line a duplicate, or its
    customer became a test account). Runs before the new slice is merged, so the fact's
    high-water mark is still its last run's: every line Silver (re)computed after that run
    has a later silver_recomputed_at (a run starts after the lines it reads landed; the
    lookback covers clocks). Only those excluded lines are looked up (pruned by their
    recompute time), and only fact rows landed since the oldest of them are scanned; with
    none, nothing runs. -#}
{% macro delete_newly_excluded_lines() -%}
    {%- if not execute -%}{{ return('select 1') }}{%- endif -%}
    {%- set newly_excluded -%}
        select event_id, bronze_ingested_at from {{ ref('int_excluded_lines') }}
        where
            silver_recomputed_at
            > {{ high_water_mark('bronze_ingested_at', var('silver_lookback_hours')) }}
    {%- endset -%}
    {%- set found = run_query(
        'select count(*), min(bronze_ingested_at) from (' ~ newly_excluded ~ ') as excluded'
    ).rows[0] -%}
    {%- if found[0] == 0 -%}{{ return('select 1') }}{%- endif -%}
    {%- set oldest = found[1] -%}
    {%- if oldest.tzinfo is not none -%}
        {%- set oldest = oldest.astimezone(modules.pytz.utc) -%}
    {%- endif -%}
    {{ return(delete_rows_by_key(
        this, 'event_id', 'select event_id from (' ~ newly_excluded ~ ') as excluded',
        target_filter='bronze_ingested_at >= '
            ~ timestamp_literal(oldest.strftime('%Y-%m-%d %H:%M:%S.%f')),
    )) }}
{%- endmacro %}
