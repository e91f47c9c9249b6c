{#- Pre-hook of int_data_quality_run_reasons: delete the reasons of runs that have no
    int_data_quality_runs row, i.e. runs killed between writing their reasons and their
    record (the chaos suite kills dbt mid-run), so every reason belongs to a recorded run.
    With no int_data_quality_runs table yet (the very first run was killed before it), no
    reason belongs to a recorded run. The parquet-only Spark check cannot delete (and builds
    once). -#}
{% macro delete_reasons_of_unrecorded_runs() -%}
    {%- set runs = adapter.get_relation(this.database, this.schema, 'int_data_quality_runs') -%}
    {%- if target.type == 'spark' -%}
        select 1
    {%- elif runs is none -%}
        delete from {{ this }}
    {%- else -%}
        delete from {{ this }} where run_id not in (select runs.run_id from {{ runs }} as runs)
    {%- endif -%}
{%- endmacro %}
