{{
    config(
        materialized='incremental',
        unique_key=['customer_no', 'source_country'],
        incremental_strategy=lakehouse_incremental_strategy(),
        on_schema_change='fail',
    )
}}

-- Every country a customer's counted lines have named (dim_customer.country_count).
{{ distinct_line_pairs('customer_no', 'source_country') }}
