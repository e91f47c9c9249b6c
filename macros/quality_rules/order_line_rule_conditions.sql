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
