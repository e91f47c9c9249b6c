{#- The key of a Bronze row's event: its event_id when Bronze parsed the payload and the id
    has the trusted form (is_valid_event_id); otherwise its Kafka coordinates, so that an
    event with a blank, malformed or untrusted id, or an unusable payload, is never merged
    with another one by the dedupe (each such record is its own quarantined event). -#}
{% macro bronze_event_key(relation) -%}
    case
        when {{ relation }}.parse_error is null and {{ is_valid_event_id(relation ~ '.event_id') }}
            then {{ relation }}.event_id
        else concat(
            'bronze:', {{ relation }}.kafka_topic, ':',
            cast({{ relation }}.kafka_partition as string), ':',
            cast({{ relation }}.kafka_offset as string)
        )
    end
{%- endmacro %}
