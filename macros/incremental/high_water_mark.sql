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
