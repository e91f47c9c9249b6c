{#- The sale dates of the lines of `relation` landed since this model's high-water mark less
    the lookback (those keys_landed_since_high_water_mark selects), as a filter on `sale_date`
    with literal bounds that the scan can prune by: the earliest to the latest touched date,
    undated lines too when a touched line has no date, nothing when no line landed. A model
    that recomputes what new lines touch reads those days, not the history. -#}
{% macro touched_sale_dates(relation, mark_column='bronze_ingested_at') -%}
    {%- if not execute -%}
        {{ return({'sale_date_filter': '1 = 1'}) }}
    {%- endif -%}
    {%- set query -%}
        select
            cast(min(sale_date) as string) as earliest,
            cast(max(sale_date) as string) as latest,
            count(*) as touched_lines,
            count(*) - count(sale_date) as undated
        from {{ relation }}
        where bronze_ingested_at > {{ high_water_mark(mark_column, var('silver_lookback_hours')) }}
    {%- endset -%}
    {%- set row = run_query(query).rows[0] -%}
    {%- if row[2] == 0 -%}
        {{ return({'sale_date_filter': '1 = 0'}) }}
    {%- endif -%}
    {%- set dated = "sale_date between cast('" ~ row[0] ~ "' as date) and cast('" ~ row[1]
        ~ "' as date)" if row[0] is not none else '1 = 0' -%}
    {%- if row[3] > 0 -%}
        {%- set dated = '(' ~ dated ~ ' or sale_date is null)' -%}
    {%- endif -%}
    {{ return({'sale_date_filter': dated}) }}
{%- endmacro %}
