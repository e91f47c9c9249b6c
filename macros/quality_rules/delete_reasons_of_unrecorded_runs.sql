{#- Pre-hook of int_data_quality_run_reasons: delete the reasons of runs that have no
    int_data_quality_runs row, i.e. runs killed between writing their reasons and their
    record (the chaos suite kills dbt mid-run), so every reason belongs to a recorded run.
    With no int_data_quality_runs table yet (the very first run was killed before it), no
    reason belongs to a recorded run. -#}
{% macro delete_reasons_of_unrecorded_runs() -%}
    {%- set runs = adapter.get_relation(this.database, this.schema, 'int_data_quality_runs') -%}
    {%- if runs is none -%}
        delete from {{ this }}
    {%- else -%}
        {{ delete_rows_by_key(
            this, 'run_id', 'select runs.run_id from ' ~ runs ~ ' as runs', listed=false
        ) }}
    {%- endif -%}
{%- endmacro %}
