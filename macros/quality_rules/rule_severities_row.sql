{#- One row with one column per rule holding its severity, read from the seed at run time
    (so a severity changed in the seed applies to the next rows Silver checks). -#}
{% macro rule_severities_row() -%}
    select
    {%- for rule_id in order_line_rule_conditions() %}
        max(case when rule_id = '{{ rule_id }}' then severity end) as {{ rule_id }}
        {%- if not loop.last %},{% endif %}
    {%- endfor %}
    from {{ ref('quality_rules') }}
{%- endmacro %}
