{#- The keys (transactions, days, months ...) of the lines landed in Bronze since this model's
    high-water mark minus the lookback: what an incremental model recomputes whole.
    `key_expression` is written over the alias `touched`. -#}
{% macro keys_landed_since_high_water_mark(relation, key_expression, mark_column) -%}
    select {{ key_expression }} from {{ relation }} as touched
    where
        touched.bronze_ingested_at
        > {{ high_water_mark(mark_column, var('silver_lookback_hours')) }}
{%- endmacro %}
