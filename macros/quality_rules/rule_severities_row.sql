{#- One row with one column per rule holding its severity, read from the seed at run time
    (so a severity changed in the seed applies to the next rows Silver checks).
    - var('quality_rule_severities') ({rule_id: severity}) overrides the seed for one
      deployment or run, e.g. --vars '{quality_rule_severities: {unsupported_schema_version: fail}}'.
    - invalid_payload and invalid_event_id are never below quarantine, whatever the seed
      says: an event Silver cannot read or cannot key must not become a trusted line. -#}
{% macro rule_severities_row() -%}
    {%- set overrides = var('quality_rule_severities', {}) -%}
    {%- if overrides is not mapping -%}
        {%- if execute -%}
            {{ exceptions.raise_compiler_error(
                "var quality_rule_severities must be a mapping {rule_id: severity}, not " ~ overrides
            ) }}
        {%- endif -%}
        {%- set overrides = {} -%}
    {%- endif -%}
    {%- set never_trusted = ['invalid_payload', 'invalid_event_id'] -%}
    {%- set rules = order_line_rule_conditions() -%}
    {%- for rule_id, severity in overrides.items() -%}
        {%- if rule_id not in rules or severity not in ['warn', 'quarantine', 'fail'] -%}
            {{ exceptions.raise_compiler_error(
                "var quality_rule_severities: '" ~ rule_id ~ ": " ~ severity
                ~ "' is not a rule of macros/quality_rules/order_line_rule_conditions.sql"
                ~ " with a severity warn, quarantine or fail"
            ) }}
        {%- endif -%}
    {%- endfor -%}
    select
    {%- for rule_id in rules %}
        {%- if rule_id in overrides %}
            {%- set severity = "'" ~ overrides[rule_id] ~ "'" %}
        {%- else %}
            {%- set severity = "max(case when rule_id = '" ~ rule_id ~ "' then severity end)" %}
        {%- endif %}
        {%- if rule_id in never_trusted %}
        case when {{ severity }} = 'fail' then 'fail' else 'quarantine' end as {{ rule_id }}
        {%- else %}
        {{ severity }} as {{ rule_id }}
        {%- endif %}
        {%- if not loop.last %},{% endif %}
    {%- endfor %}
    from {{ ref('quality_rules') }}
{%- endmacro %}
