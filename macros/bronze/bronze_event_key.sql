{#- The key of a Bronze row's event: its event_id, or, for a payload Bronze could not
    parse (no event_id), its Kafka coordinates. -#}
{% macro bronze_event_key(relation) -%}
    coalesce(
        {{ relation }}.event_id,
        concat(
            'bronze:', {{ relation }}.kafka_topic, ':',
            cast({{ relation }}.kafka_partition as string), ':',
            cast({{ relation }}.kafka_offset as string)
        )
    )
{%- endmacro %}
