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
