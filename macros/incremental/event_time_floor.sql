{#- The landing-time floor of the earlier copies of the events in `relation` (optionally only
    its rows matching `where`), computed now by one query:

        least(now - merge_predicate_days days, oldest event time - event_clock_slack_minutes)

    An event's time is the least of `event_time_expressions` (columns or expressions whose
    value every copy of an event keeps and that is not later than its first landing); see
    lakehouse_merge_predicates for why a first copy cannot land before it. Returns
    {'floor': a timestamp literal, or none when there are no rows, 'untimed': how many rows
    have none of the times}. -#}
{% macro event_time_floor(relation, event_time_expressions, where=none) -%}
    {%- if not execute -%}
        {{ return({'floor': none, 'untimed': 0}) }}
    {%- endif -%}
    {%- set event_time = event_time_expressions[0] if event_time_expressions | length == 1
        else 'least(' ~ event_time_expressions | join(', ') ~ ')' -%}
    {%- set query -%}
        select
            greatest(
                least(
                    current_timestamp - interval {{ var('merge_predicate_days') }} days,
                    cast(min({{ event_time }}) as timestamp)
                    - interval {{ var('event_clock_slack_minutes') }} minutes
                ),
                cast('1970-01-01 00:00:00' as timestamp)
            ) as event_floor,
            count(*) as event_rows,
            count(*) - count({{ event_time }}) as untimed
        from {{ relation }}
        {% if where %}where {{ where }}{% endif %}
    {%- endset -%}
    {%- set result = run_query(query) -%}
    {%- set floor = result.columns[0].values()[0] -%}
    {%- if result.columns[1].values()[0] == 0 or floor is none -%}
        {{ return({'floor': none, 'untimed': result.columns[2].values()[0]}) }}
    {%- endif -%}
    {%- if floor.tzinfo is not none -%}
        {%- set floor = floor.astimezone(modules.pytz.utc) -%}
    {%- endif -%}
    {{ return({
        'floor': timestamp_literal(floor.strftime('%Y-%m-%d %H:%M:%S.%f')),
        'untimed': result.columns[2].values()[0],
    }) }}
{%- endmacro %}
