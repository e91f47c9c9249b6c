{#- dbt-spark persists each column's description with its own ALTER TABLE, one Delta commit
    per column (some 200 per build here). Spark 4 alters several columns in one statement:
    one commit per table, the same comments. Other engines keep their adapter's macro. -#}
{% macro spark__alter_column_comment(relation, column_dict) -%}
    {%- if config.get('file_format', validator=validation.any[basestring]) not in ['delta', 'hudi', 'iceberg']
        or not column_dict -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set changes = [] -%}
    {%- for column_name in column_dict -%}
        {%- set column = column_dict[column_name] -%}
        {%- set escaped_comment = column['description'] | replace('\\', '\\\\') | replace("'", "\\'") -%}
        {%- do changes.append(
            (adapter.quote(column_name) if column['quote'] else column_name)
            ~ " comment '" ~ escaped_comment ~ "'"
        ) -%}
    {%- endfor -%}
    {% do run_query('alter table ' ~ relation ~ ' alter column ' ~ changes | join(', ')) %}
{%- endmacro %}
