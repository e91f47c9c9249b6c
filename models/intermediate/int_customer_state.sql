{{
    config(
        materialized='incremental',
        unique_key='customer_no',
        incremental_strategy=lakehouse_incremental_strategy(),
        on_schema_change='fail',
    )
}}

-- depends_on: {{ ref('int_order_lines_enriched') }}
-- Each known customer's latest counted line and purchase dates, kept incrementally for
-- dim_customer.
{{ current_line_state('customer_no', ['country', 'country_code']) }}
