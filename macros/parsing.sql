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

{#- True when the whole text matches a regular expression (RE2/Java syntax, no backslashes). -#}
{% macro matches_pattern(expression, pattern) -%}
    {{ return(adapter.dispatch('matches_pattern')(expression, pattern)) }}
{%- endmacro %}

{% macro default__matches_pattern(expression, pattern) -%}
    regexp_like({{ expression }}, '^{{ pattern }}$')
{%- endmacro %}

{% macro duckdb__matches_pattern(expression, pattern) -%}
    regexp_full_match({{ expression }}, '{{ pattern }}')
{%- endmacro %}

{#- Text to a number only when it is one (else null): no engine-specific cast leniency. -#}
{% macro to_decimal(expression, precision=18, scale=3) -%}
    case
        when {{ matches_pattern('trim(' ~ expression ~ ')', '[-+]?[0-9]+([.][0-9]+)?') }}
            then try_cast(trim({{ expression }}) as decimal({{ precision }}, {{ scale }}))
    end
{%- endmacro %}

{% macro to_integer(expression) -%}
    case
        when {{ matches_pattern('trim(' ~ expression ~ ')', '[-+]?[0-9]{1,9}') }}
            then try_cast(trim({{ expression }}) as int)
    end
{%- endmacro %}

{#- Models that recompute rows they already hold (whole transactions) need a merge or
    delete+insert. The parquet-only Spark check has neither, so there they are rebuilt
    as tables on every run: same result, full cost. -#}
{% macro lakehouse_recompute_materialization() -%}
    {{ return(adapter.dispatch('lakehouse_recompute_materialization')()) }}
{%- endmacro %}

{% macro default__lakehouse_recompute_materialization() -%}
    {{ return('incremental') }}
{%- endmacro %}

{% macro spark__lakehouse_recompute_materialization() -%}
    {{ return('table') }}
{%- endmacro %}

{% macro databricks__lakehouse_recompute_materialization() -%}
    {{ return('incremental') }}
{%- endmacro %}

{#- The incremental high-water mark of `column` in this model, minus `lookback_hours`, as a
    timestamp literal computed when the model compiles. A literal, unlike a subquery, is
    pushed down into the Bronze scan, so an incremental run reads only recent files and its
    cost follows the new data, not the history. An empty model gives the epoch. -#}
{% macro high_water_mark(column, lookback_hours) -%}
    {%- set value = none -%}
    {%- if execute -%}
        {%- set result = run_query("select max(" ~ column ~ ") from " ~ this) -%}
        {%- set value = result.columns[0].values()[0] -%}
    {%- endif -%}
    {%- if value is none -%}
        {{ return(timestamp_literal('1970-01-01 00:00:00')) }}
    {%- endif -%}
    {%- if value.tzinfo is not none -%}
        {%- set value = value.astimezone(modules.pytz.utc) -%}
    {%- endif -%}
    {%- set shifted = value - modules.datetime.timedelta(hours=lookback_hours) -%}
    {{ return(timestamp_literal(shifted.strftime('%Y-%m-%d %H:%M:%S.%f'))) }}
{%- endmacro %}

{#- A UTC timestamp literal (Spark and Databricks sessions run in UTC, see profiles.yml). -#}
{% macro timestamp_literal(text) -%}
    {{ return(adapter.dispatch('timestamp_literal')(text)) }}
{%- endmacro %}

{% macro default__timestamp_literal(text) -%}
    cast('{{ text }}' as timestamp)
{%- endmacro %}

{% macro duckdb__timestamp_literal(text) -%}
    cast('{{ text }}+00:00' as timestamptz)
{%- endmacro %}

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

{#- The keys (transactions, days, months ...) of the lines landed in Bronze since this model's
    high-water mark minus the lookback: what an incremental model recomputes whole.
    `key_expression` is written over the alias `touched`. -#}
{% macro keys_landed_since_high_water_mark(relation, key_expression, mark_column) -%}
    select {{ key_expression }} from {{ relation }} as touched
    where
        touched.bronze_ingested_at
        > {{ high_water_mark(mark_column, var('silver_lookback_hours')) }}
{%- endmacro %}
