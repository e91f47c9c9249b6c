{#- Delete the rows of `relation` whose `key` is among the values `keys_query` selects (one
    column named `key`, never null), or with `listed=false` the rows whose key is not among
    them; with `target_filter` (a condition on the columns of `relation`, listed keys only),
    only among the rows it holds for, so the scan can skip the rest. DuckDB and Databricks: a
    DELETE with an IN / NOT IN subquery. Delta Lake outside Databricks (the Spark SQL check)
    has no subqueries in DELETE, so there it is a MERGE that deletes the matched (or the
    unmatched) target rows: the same rows gone, one commit. -#}
{% macro delete_rows_by_key(relation, key, keys_query, listed=true, target_filter=none) -%}
    {%- if target_filter and not listed -%}
        {{ exceptions.raise_compiler_error('delete_rows_by_key: target_filter is for listed keys only') }}
    {%- endif -%}
    {{ return(adapter.dispatch('delete_rows_by_key')(relation, key, keys_query, listed, target_filter)) }}
{%- endmacro %}

{% macro default__delete_rows_by_key(relation, key, keys_query, listed, target_filter) -%}
    delete from {{ relation }} where {{ key }} {{ '' if listed else 'not ' }}in ({{ keys_query }})
    {%- if target_filter %} and {{ target_filter }}{% endif %}
{%- endmacro %}

{% macro spark__delete_rows_by_key(relation, key, keys_query, listed, target_filter) -%}
    merge into {{ relation }} as target
    using (select distinct {{ key }} from ({{ keys_query }}) as keys_query) as listed_keys
    on
        target.{{ key }} = listed_keys.{{ key }}
        {%- if target_filter %} and {{ target_filter }}{% endif %}
    when {{ 'matched' if listed else 'not matched by source' }} then delete
{%- endmacro %}

{% macro databricks__delete_rows_by_key(relation, key, keys_query, listed, target_filter) -%}
    {{ default__delete_rows_by_key(relation, key, keys_query, listed, target_filter) }}
{%- endmacro %}
