{#- Text to an int only when it is a whole number of at most 9 digits (else null): no
    engine-specific cast leniency, and no overflow. -#}
{% macro to_integer(expression) -%}
    case
        when {{ matches_pattern('trim(' ~ expression ~ ')', '[-+]?[0-9]{1,9}') }}
            then try_cast(trim({{ expression }}) as int)
    end
{%- endmacro %}
