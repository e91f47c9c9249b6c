{#- The rules as code (conditions) and as data (seed) must list the same rule ids. -#}
{#- unknown_country needs the country seed, so int_order_lines_enriched checks it (as a
    warning: it cannot quarantine a line that Silver governance already passed). -#}
{% macro rule_ids_in_code() -%}
    {%- for rule_id in (order_line_rule_conditions().keys() | list) + ['unknown_country'] %}
    select '{{ rule_id }}' as rule_id
    {%- if not loop.last %}
    union all{% endif %}
    {%- endfor %}
{%- endmacro %}
