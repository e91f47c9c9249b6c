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

{#- Rule severities from the seed, read when the model compiles: {rule_id: severity}. -#}
{% macro quality_rule_severities() -%}
    {%- set severities = {} -%}
    {%- if execute -%}
        {%- set rows = run_query("select rule_id, severity from " ~ ref('quality_rules')) -%}
        {%- for row in rows -%}
            {%- do severities.update({row[0]: row[1]}) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(severities) }}
{%- endmacro %}

{#- A comma-separated list of the rules a row breaks, among those of one severity
    ('' when none). concat_ws skips nulls on every engine. -#}
{% macro broken_rules(severity=none) -%}
    {%- set severities = quality_rule_severities() -%}
    {%- set conditions = order_line_rule_conditions() -%}
    {%- set selected = [] -%}
    {%- for rule_id, condition in conditions.items() -%}
        {%- if severity is none or severities.get(rule_id) == severity -%}
            {%- do selected.append((rule_id, condition)) -%}
        {%- endif -%}
    {%- endfor -%}
    concat_ws(','
    {%- for rule_id, condition in selected %},
        case when {{ condition }} then '{{ rule_id }}' end
    {%- endfor %}
    {%- if selected | length == 0 %}, cast(null as string){% endif %})
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
