{#- dbt's persist_docs on DuckDB, taken over by the project (a root-project macro comes first
    in the dbt namespace's dispatch): the comments are written only when the relation does not
    already carry exactly these descriptions. An incremental table keeps its comments from run
    to run, so a run of it no longer writes one COMMENT statement per column (about a third of
    a second per run of the Silver and Gold models on 2 cores); a table rebuilt by the run has
    none and gets them all, as before. -#}
{% macro duckdb__persist_docs(relation, model, for_relation, for_columns) -%}
    {%- if not lakehouse_docs_persisted(relation, model, for_relation, for_columns) -%}
        {{ return(default__persist_docs(relation, model, for_relation, for_columns)) }}
    {%- endif -%}
{%- endmacro %}

{#- Whether `relation` already carries the description and column descriptions persist_docs
    would write for `model` (one query on DuckDB's catalog). -#}
{% macro lakehouse_docs_persisted(relation, model, for_relation, for_columns) -%}
    {%- set wanted = {} -%}
    {%- if for_relation and config.persist_relation_docs() and model.description -%}
        {%- do wanted.update({'': model.description}) -%}
    {%- endif -%}
    {%- if for_columns and config.persist_column_docs() and model.columns -%}
        {%- for name, column in model.columns.items() -%}
            {%- do wanted.update({name | lower: column.description}) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set found = run_query(
        "select '' as name, comment from duckdb_tables() where " ~ lakehouse_catalog_filter(relation)
        ~ " union all select lower(column_name), comment from duckdb_columns() where "
        ~ lakehouse_catalog_filter(relation)
    ) -%}
    {%- set have = {} -%}
    {%- for row in found.rows -%}
        {%- do have.update({row[0]: row[1]}) -%}
    {%- endfor -%}
    {%- if '' not in have -%}{{ return(false) }}{%- endif -%}
    {%- for name, description in wanted.items() -%}
        {#- a documented column the table lacks is persist_docs' to warn about -#}
        {%- if name in have and have[name] != description -%}{{ return(false) }}{%- endif -%}
        {%- if name not in have -%}{{ return(false) }}{%- endif -%}
    {%- endfor -%}
    {{ return(true) }}
{%- endmacro %}

{% macro lakehouse_catalog_filter(relation) -%}
    database_name = '{{ relation.database }}' and schema_name = '{{ relation.schema }}'
    and table_name = '{{ relation.identifier }}'
{%- endmacro %}
