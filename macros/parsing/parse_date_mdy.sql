{#- Parse the source's `M/d/yyyy` dates (12/9/2019 is 9 December 2019); null if unparseable.
    Only text of that shape is parsed (a two-digit year such as 12/9/19, or 2019-12-09, is
    null on every engine: DuckDB would read 12/9/19 as the year 19); an impossible day such
    as 2/30/2019 is null too. -#}
{% macro parse_date_mdy(expression) -%}
    {%- set shaped = matches_pattern('trim(' ~ expression ~ ')', '[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}') -%}
    {{ return('case when ' ~ shaped ~ ' then ' ~ adapter.dispatch('parse_date_mdy')(expression) ~ ' end') }}
{%- endmacro %}

{% macro default__parse_date_mdy(expression) -%}
    cast(try_to_timestamp(trim({{ expression }}), 'M/d/yyyy') as date)
{%- endmacro %}

{% macro duckdb__parse_date_mdy(expression) -%}
    cast(try_strptime(trim({{ expression }}), '%m/%d/%Y') as date)
{%- endmacro %}
