{#- Text to a decimal only when it is a plain number (else null): no engine-specific cast
    leniency. try_cast, not dbt.safe_cast: dbt's is a plain cast on duckdb and spark, which
    fails the query on a value out of range. -#}
{% macro to_decimal(expression, precision=18, scale=3) -%}
    case
        when {{ matches_pattern('trim(' ~ expression ~ ')', '[-+]?[0-9]+([.][0-9]+)?') }}
            then try_cast(trim({{ expression }}) as decimal({{ precision }}, {{ scale }}))
    end
{%- endmacro %}
