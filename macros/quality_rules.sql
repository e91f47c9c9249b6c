{#- Quality rules of Silver governance. The list of rules and their severity is data
    (seeds/quality_rules.csv: rule_id, description, severity warn | quarantine | fail);
    the condition that detects each rule is here, one SQL predicate per rule_id over the
    typed columns of stg_bronze__order_lines_checked. A test keeps the two in step. -#}

{% macro order_line_rule_conditions() -%}
    {%- set well_formed = "parse_error is null" -%}
    {{ return({
        'invalid_payload': "parse_error is not null",
        'unsupported_schema_version': well_formed ~ " and (schema_version is null or schema_version <> 1)",
        'missing_transaction_no': well_formed ~ " and transaction_no is null",
        'missing_product_no': well_formed ~ " and product_no is null",
        'missing_customer_no': well_formed ~ " and customer_no is null",
        'unparseable_date': well_formed ~ " and sale_date is null",
        'date_out_of_range': well_formed ~ " and (sale_date > current_date or sale_date < date '"
            ~ var('business_start_date') ~ "')",
        'invalid_price': well_formed ~ " and unit_price is null",
        'non_positive_price': well_formed ~ " and unit_price <= 0 and not is_return and not is_non_product",
        'invalid_quantity': well_formed ~ " and quantity is null",
        'zero_quantity': well_formed ~ " and quantity = 0",
        'quantity_sign_mismatch': well_formed
            ~ " and ((is_return and quantity > 0) or (not is_return and quantity < 0))",
        'non_product_code': well_formed ~ " and is_non_product",
    }) }}
{%- endmacro %}

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

{#- Post-hook: stop the run when any event broke a rule of severity `fail`. -#}
{% macro raise_on_fail_rules() -%}
    {%- if execute -%}
        {%- set result = run_query(
            "select fail_rules, count(*) from " ~ this
            ~ " where line_status = 'failed' group by fail_rules order by fail_rules"
        ) -%}
        {%- if result.rows | length > 0 -%}
            {%- set parts = [] -%}
            {%- for row in result.rows -%}
                {%- do parts.append(row[0] ~ ": " ~ row[1]) -%}
            {%- endfor -%}
            {{ exceptions.raise_compiler_error(
                "Silver stopped: events broke rules of severity 'fail' (" ~ parts | join(", ")
                ~ "). They are kept in " ~ this ~ " with line_status = 'failed'. Fix the"
                ~ " producer, or change the rule's severity in seeds/quality_rules.csv and"
                ~ " rebuild with --full-refresh."
            ) }}
        {%- endif -%}
    {%- endif -%}
    select 1
{%- endmacro %}
