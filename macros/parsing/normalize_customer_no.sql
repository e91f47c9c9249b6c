{#- Customer numbers as string keys: trimmed, "17490.0" read as "17490", blank as null. -#}
{% macro normalize_customer_no(expression) -%}
    nullif(regexp_replace(trim({{ expression }}), '[.]0+$', ''), '')
{%- endmacro %}
