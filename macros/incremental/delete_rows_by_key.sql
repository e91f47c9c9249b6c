{#- Delete the rows of `relation` whose `key` is among the values `keys_query` selects (one
    column named `key`, never null), or with `listed=false` the rows whose key is not among
    them. DuckDB and Databricks: a DELETE with an IN / NOT IN subquery. Delta Lake outside
    Databricks (the Spark SQL check) has no subqueries in DELETE, so there it is a MERGE that
    deletes the matched (or the unmatched) target rows: the same rows gone, one commit. -#}
{% macro delete_rows_by_key(relation, key, keys_query, listed=true) -%}
    {{ return(adapter.dispatch('delete_rows_by_key')(relation, key, keys_query, listed)) }}
{%- endmacro %}

{% macro default__delete_rows_by_key(relation, key, keys_query, listed) -%}
    delete from {{ relation }} where {{ key }} {{ '' if listed else 'not ' }}in ({{ keys_query }})
{%- endmacro %}

{% macro spark__delete_rows_by_key(relation, key, keys_query, listed) -%}
    merge into {{ relation }} as target
    using (select distinct {{ key }} from ({{ keys_query }}) as keys_query) as listed_keys
    on target.{{ key }} = listed_keys.{{ key }}
    when {{ 'matched' if listed else 'not matched by source' }} then delete
{%- endmacro %}

{% macro databricks__delete_rows_by_key(relation, key, keys_query, listed) -%}
    {{ default__delete_rows_by_key(relation, key, keys_query, listed) }}
{%- endmacro %}
