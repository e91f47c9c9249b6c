{#- A surrogate key: the md5 of the natural key's text (same value on every engine). -#}
{% macro surrogate_key(expression) -%}
    md5(cast({{ expression }} as string))
{%- endmacro %}
