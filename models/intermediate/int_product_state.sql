{{
    config(
        materialized='incremental',
        unique_key='product_no',
        incremental_strategy=lakehouse_incremental_strategy(),
        on_schema_change='fail',
    )
}}

-- depends_on: {{ ref('int_order_lines_enriched') }}
-- Each product's latest counted line and sale dates, kept incrementally for dim_product.
{{ current_line_state(
    'product_no', ['product_name', 'unit_price', 'is_non_product', 'non_product_description']
) }}
