{#- Quality rules of Silver governance. The list of rules and their severity is data
    (seeds/quality_rules.csv: rule_id, description, severity warn | quarantine | fail);
    the condition that detects each rule is here, one SQL predicate per rule_id over the
    typed columns of stg_bronze__order_lines_checked. A test keeps the two in step.
    Every rule but invalid_payload and non_utf8_key applies only to a payload Bronze could
    parse (parse_error is null): an unusable payload gets one reason, Bronze's. -#}
{% macro order_line_rule_conditions() -%}
    {%- set well_formed = "parse_error is null" -%}
    {#- the line's free-text fields, as typed (trimmed) -#}
    {%- set text_fields = ['transaction_no', 'product_no', 'product_name', 'customer_no', 'source_country'] -%}
    {%- set oversized, controlled = [], [] -%}
    {%- for field in text_fields -%}
        {%- do oversized.append("coalesce(length(" ~ field ~ ") > 1000, false)") -%}
        {%- do controlled.append("coalesce(" ~ has_control_characters(field) ~ ", false)") -%}
    {%- endfor -%}
    {{ return({
        'invalid_payload': "parse_error is not null",
        'invalid_event_id': well_formed ~ " and not " ~ is_valid_event_id('event_id'),
        'invalid_schema_version': well_formed ~ " and schema_version is null",
        'unsupported_schema_version': well_formed ~ " and schema_version <> 1",
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
        'oversized_field': well_formed ~ " and (" ~ oversized | join(" or ") ~ ")",
        'control_characters': well_formed ~ " and (" ~ controlled | join(" or ") ~ ")",
        'non_utf8_key': "coalesce(invalid_utf8 like '%key%', false)",
    }) }}
{%- endmacro %}
