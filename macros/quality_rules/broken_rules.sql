{#- A comma-separated list of the rules a row breaks among those of one severity ('' when
    none); `severities` is the alias of rule_severities_row(). concat_ws skips nulls. -#}
{% macro broken_rules(severity, severities='rule_severity') -%}
    concat_ws(','
    {%- for rule_id, condition in order_line_rule_conditions().items() %},
        case
            when {{ severities }}.{{ rule_id }} = '{{ severity }}' and ({{ condition }})
                then '{{ rule_id }}'
        end
    {%- endfor %})
{%- endmacro %}
