{#- True when the whole text matches a regular expression (RE2/Java syntax, no backslashes).
    Java's `$` also matches before a final line break, so the default form ends the match
    with (?!.) under (?s) instead: "12\n" matches on no engine. -#}
{% macro matches_pattern(expression, pattern) -%}
    {{ return(adapter.dispatch('matches_pattern')(expression, pattern)) }}
{%- endmacro %}

{% macro default__matches_pattern(expression, pattern) -%}
    regexp_like({{ expression }}, '(?s)^(?:{{ pattern }})(?!.)')
{%- endmacro %}

{% macro duckdb__matches_pattern(expression, pattern) -%}
    regexp_full_match({{ expression }}, '{{ pattern }}')
{%- endmacro %}
