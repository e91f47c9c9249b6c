{#- The state behind a current dimension, one row per `key`: the `attributes` of its latest
    line (latest_line_first), its first and last sale dates, and which line that is.
    Full build: from every counted line. Incremental: from the rows it already holds for the
    keys that lines Silver (re)computed since its last run touch, plus those lines, so a run
    costs the new lines and the touched keys, not the history. A key whose latest line Silver
    has since excluded (a late, earlier copy of it arrived) is rebuilt from its whole history. -#}
{% macro current_line_state(key, attributes) -%}
{%- set lines = ref('int_sales_lines') -%}
{%- set since = high_water_mark('silver_recomputed_at', 0) if is_incremental() else none -%}
{%- set stale = stale_current_lines(key, since) if is_incremental() else [] -%}
{%- set carried = attributes | join(', ') -%}
with changed as (

    select * from {{ lines }}
    where
        {{ key }} is not null
        {% if since %}and silver_recomputed_at > {{ since }}{% endif %}

),

candidates as (

    select
        {{ key }}, {{ carried }}, sale_date as first_sale_date, sale_date, occurred_at,
        kafka_partition, kafka_offset, event_id, silver_recomputed_at
    from changed
    {% if is_incremental() %}
        union all
        -- the latest line so far of each touched key, as the state holds it
        select
            {{ key }}, {{ carried }}, first_sale_date, last_sale_date as sale_date,
            latest_occurred_at as occurred_at, latest_kafka_partition as kafka_partition,
            latest_kafka_offset as kafka_offset, latest_event_id as event_id,
            silver_recomputed_at
        from {{ this }}
        where
            {{ key }} in (select changed.{{ key }} from changed)
            {% if stale %}and {{ key }} not in ({{ stale }}){% endif %}
        {% if stale %}
            union all
            -- keys whose latest line is no longer counted: every line they have
            select
                {{ key }}, {{ carried }}, sale_date as first_sale_date, sale_date, occurred_at,
                kafka_partition, kafka_offset, event_id, silver_recomputed_at
            from {{ lines }}
            where {{ key }} in ({{ stale }})
        {% endif %}
    {% endif %}

),

ranked as (

    select
        candidates.*,
        row_number() over (
            partition by candidates.{{ key }}
            order by {{ latest_line_first('candidates') }}
        ) as recency_rank,
        min(candidates.first_sale_date) over (partition by candidates.{{ key }})
            as earliest_sale_date,
        max(candidates.silver_recomputed_at) over (partition by candidates.{{ key }})
            as latest_recomputed_at
    from candidates

),

final as (

    select
        {{ key }},
        {{ carried }},
        earliest_sale_date as first_sale_date,
        sale_date as last_sale_date,
        event_id as latest_event_id,
        occurred_at as latest_occurred_at,
        kafka_partition as latest_kafka_partition,
        kafka_offset as latest_kafka_offset,
        latest_recomputed_at as silver_recomputed_at
    from ranked
    where recency_rank = 1

)

select * from final
{%- endmacro %}


{#- The keys (as a SQL list of literals) whose latest line in this state model Silver has
    excluded since `since`; empty when there are none (the usual case). -#}
{% macro stale_current_lines(key, since) -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set found = run_query(
        "select distinct state." ~ key ~ " from " ~ this ~ " as state inner join "
        ~ ref('int_order_lines_enriched') ~ " as lines on state.latest_event_id = lines.event_id"
        ~ " where lines.silver_recomputed_at > " ~ since
        ~ " and (lines.is_duplicate_line or lines.is_test_customer)"
    ) -%}
    {%- set quoted = [] -%}
    {%- for value in found.columns[0].values() -%}
        {%- do quoted.append("'" ~ (value | replace("'", "''")) ~ "'") -%}
    {%- endfor -%}
    {{ return(quoted | join(', ')) }}
{%- endmacro %}


{#- The distinct (`key`, `value`) pairs of the counted lines, kept incrementally (new pairs
    from the lines Silver (re)computed since the last run), for counts of distinct values per
    key that do not re-read the history (a product's names, a customer's countries). -#}
{% macro distinct_line_pairs(key, value) -%}
with changed as (

    select {{ key }}, {{ value }}, silver_recomputed_at
    from {{ ref('int_sales_lines') }}
    where
        {{ key }} is not null
        and {{ value }} is not null
        {% if is_incremental() %}
            and silver_recomputed_at > {{ high_water_mark('silver_recomputed_at', 0) }}
        {% endif %}

),

pairs as (

    select {{ key }}, {{ value }}, max(silver_recomputed_at) as silver_recomputed_at
    from changed
    group by {{ key }}, {{ value }}

)

select * from pairs
{% if is_incremental() %}
    where not exists (
        select 1 from {{ this }} as known
        where known.{{ key }} = pairs.{{ key }} and known.{{ value }} = pairs.{{ value }}
    )
{% endif %}
{%- endmacro %}
