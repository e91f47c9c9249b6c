{#- The order that makes a line "the latest" for a current dimension row: sale date, then
    event order (occurred_at, Kafka coordinates), newest first. Deterministic on every engine. -#}
{% macro latest_line_first(relation) -%}
    {{ relation }}.sale_date desc, {{ relation }}.occurred_at desc,
    {{ relation }}.kafka_partition desc, {{ relation }}.kafka_offset desc
{%- endmacro %}
