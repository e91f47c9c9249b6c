{#- Where the earlier (or kept) copies of the events Bronze landed after `since` can be in
    Silver: event_time_floor over those rows of `bronze` (the source, rendered before the
    model's first query: dbt-duckdb registers it with the cursors made after), an event's time being the least of its
    payload's occurred_at and its Kafka timestamp (both kept by every copy). -#}
{% macro bronze_copies_floor(bronze, since) -%}
    {{ return(event_time_floor(
        bronze,
        ['try_cast(occurred_at as timestamp)', 'cast(kafka_timestamp as timestamp)'],
        'ingested_at > ' ~ since,
    )) }}
{%- endmacro %}

{#- A condition: `column` (a landing time) at or after the floor `found` (event_time_floor's
    answer); always true when there is no floor or a row of the slice had no event time. -#}
{% macro landed_since(found, column) -%}
    {%- if found.floor and not found.untimed -%}
        {{ column }} >= {{ found.floor }}
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}
