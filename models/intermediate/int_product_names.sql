{{
    config(
        materialized='incremental',
        unique_key=['product_no', 'product_name'],
        incremental_strategy=lakehouse_incremental_strategy(),
        on_schema_change='fail',
    )
}}

-- Every name a product's counted lines have had (dim_product.name_count).
{{ distinct_line_pairs('product_no', 'product_name') }}
