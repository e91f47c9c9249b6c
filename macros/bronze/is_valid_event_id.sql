{#- True when an event id has the form Silver trusts as a dedupe key: 1 to 64 ASCII letters,
    digits, '-', '_' or '.', starting with a letter or digit (the producers' lowercase UUIDs
    fit). The same pattern as EVENT_ID_PATTERN in ingest/events.py, kept equal by a unit
    test. No ':' is allowed, so an id never looks like a bronze:<topic>:... key. -#}
{% macro is_valid_event_id(expression) -%}
    coalesce({{ matches_pattern(expression, '[A-Za-z0-9][A-Za-z0-9_.-]{0,63}') }}, false)
{%- endmacro %}
