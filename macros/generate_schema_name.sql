{#- Layers land in schemas named for them (silver, gold, reference), on every target:
    the custom schema is used as is, without dbt's default "<target schema>_" prefix.
    DBT_SCHEMA_PREFIX (empty unless set) goes before every schema name: the bundle's dev
    target sets it to "<user>_" so each developer builds their own schemas (databricks.yml,
    var.schema_prefix); the Bronze source reads the same prefix. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set prefix = env_var('DBT_SCHEMA_PREFIX', '') | trim -%}
    {%- if custom_schema_name is none -%}
        {{ prefix ~ target.schema }}
    {%- else -%}
        {{ prefix ~ (custom_schema_name | trim) }}
    {%- endif -%}
{%- endmacro %}
