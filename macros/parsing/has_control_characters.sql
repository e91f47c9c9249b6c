{#- True when the text holds an ASCII control character (NUL, tab, line breaks, ..., DEL). -#}
{% macro has_control_characters(expression) -%}
    {{ return(adapter.dispatch('has_control_characters')(expression)) }}
{%- endmacro %}

{% macro default__has_control_characters(expression) -%}
    regexp_like({{ expression }}, '\\p{Cntrl}')
{%- endmacro %}

{% macro duckdb__has_control_characters(expression) -%}
    regexp_matches({{ expression }}, '[[:cntrl:]]')
{%- endmacro %}
