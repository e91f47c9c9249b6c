{{
    config(
        materialized='incremental',
        unique_key='run_id',
        incremental_strategy=lakehouse_incremental_strategy(),
        on_schema_change='fail',
    )
}}

-- depends_on: {{ ref('int_data_quality_run_reasons') }}
-- The data-quality record: one row per dbt invocation that builds Silver (the runner's and
-- the Silver job's `dbt build --select tag:silver`), appended, never rewritten: the state of
-- Silver's books when the run ended. A new run id per invocation (dbt's invocation_id), so
-- the merge (Delta: Databricks, the Spark check) or delete+insert (DuckDB) only ever adds a row.
{#- The run: dbt's id of this invocation and when it started (known once dbt executes). -#}
{%- set run_id = invocation_id if execute else '' -%}
{%- set run_started = run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f') if execute else '' %}

with checked as (

    select
        line_status,
        cast(bronze_ingested_at as timestamp) as bronze_ingested_at,
        cast(source_event_at as timestamp) as source_event_at
    from {{ ref('stg_bronze__order_lines_checked') }}

),

reconciliation as (

    select * from {{ ref('int_bronze_reconciliation') }}

),

sales_lines as (

    select * from {{ ref('int_sales_lines') }}

),

excluded_lines as (

    select * from {{ ref('int_excluded_lines') }}

),

previous_run as (

    -- one row: the marks of the run before this one (nulls on the first run)
    {% if is_incremental() %}
        select
            max(checked_lines) as checked_lines,
            max(newest_bronze_ingested_at) as newest_bronze_ingested_at,
            max(newest_source_event_at) as newest_source_event_at
        from {{ this }}
        where run_at = (select max(earlier.run_at) from {{ this }} as earlier)
    {% else %}
        select
            cast(null as bigint) as checked_lines,
            cast(null as timestamp) as newest_bronze_ingested_at,
            cast(null as timestamp) as newest_source_event_at
    {% endif %}

),

bronze_books as (

    select
        cast(coalesce(sum(bronze_events), 0) as bigint) as bronze_events,
        cast(coalesce(sum(duplicates_removed), 0) as bigint) as duplicates_removed,
        cast(coalesce(sum(unaccounted_events), 0) as bigint) as unaccounted_events
    from reconciliation

),

checked_books as (

    select
        cast(count(*) as bigint) as checked_lines,
        cast(coalesce(sum(case when line_status = 'valid' then 1 else 0 end), 0) as bigint)
            as trusted_lines,
        cast(
            coalesce(sum(case when line_status = 'quarantined' then 1 else 0 end), 0) as bigint
        ) as quarantined_lines,
        cast(coalesce(sum(case when line_status = 'failed' then 1 else 0 end), 0) as bigint)
            as failed_lines,
        max(bronze_ingested_at) as newest_bronze_ingested_at,
        max(source_event_at) as newest_source_event_at
    from checked

),

landed_since_previous_run as (

    -- events that landed in Bronze after the newest one the previous run had checked: all
    -- of them are new to Silver; some carry a Kafka time older than the newest the previous
    -- run had checked (they arrived out of order, after Silver had passed their time)
    select
        cast(count(*) as bigint) as landed_lines,
        cast(coalesce(sum(
            case
                when checked.source_event_at < previous_run.newest_source_event_at then 1 else 0
            end
        ), 0) as bigint) as out_of_order_lines
    from checked
    cross join previous_run
    where
        previous_run.newest_bronze_ingested_at is null
        or checked.bronze_ingested_at > previous_run.newest_bronze_ingested_at

),

gold_books as (

    select
        (select cast(count(*) as bigint) from sales_lines) as gold_lines,
        (select cast(count(*) as bigint) from excluded_lines) as excluded_lines

),

counted as (

    select
        bronze_books.bronze_events,
        checked_books.checked_lines,
        checked_books.checked_lines - coalesce(previous_run.checked_lines, 0) as new_checked_lines,
        checked_books.trusted_lines,
        checked_books.quarantined_lines,
        checked_books.failed_lines,
        gold_books.gold_lines,
        gold_books.excluded_lines,
        bronze_books.duplicates_removed,
        bronze_books.unaccounted_events,
        -- new events that landed in Bronze no later than the previous run's newest (a late
        -- micro-batch, taken in through the lookback window), plus those out of Kafka order
        checked_books.checked_lines - coalesce(previous_run.checked_lines, 0)
        - landed_since_previous_run.landed_lines
        + landed_since_previous_run.out_of_order_lines as late_events,
        checked_books.newest_bronze_ingested_at,
        checked_books.newest_source_event_at,
        cast({{ timestamp_literal(run_started) }} as timestamp) as run_at
    from bronze_books
    cross join checked_books
    cross join landed_since_previous_run
    cross join gold_books
    cross join previous_run

),

final as (

    select
        cast('{{ run_id }}' as string) as run_id,
        run_at,
        bronze_events,
        checked_lines,
        cast(new_checked_lines as bigint) as new_checked_lines,
        trusted_lines,
        quarantined_lines,
        failed_lines,
        gold_lines,
        excluded_lines,
        duplicates_removed,
        unaccounted_events,
        cast(late_events as bigint) as late_events,
        -- the books: every Bronze row is a checked event or a removed copy of one, every
        -- checked event has one status, every trusted line is counted or excluded
        coalesce(
            unaccounted_events = 0
            and bronze_events = checked_lines + duplicates_removed
            and checked_lines = trusted_lines + quarantined_lines + failed_lines
            and trusted_lines = gold_lines + excluded_lines,
            false
        ) as is_balanced,
        newest_bronze_ingested_at,
        newest_source_event_at,
        cast(
            case
                when newest_bronze_ingested_at is not null
                    then {{ dbt.datediff('newest_bronze_ingested_at', 'run_at', 'second') }}
            end as bigint
        ) as bronze_age_seconds,
        cast(
            case
                when newest_source_event_at is not null
                    then {{ dbt.datediff('newest_source_event_at', 'run_at', 'second') }}
            end as bigint
        ) as source_age_seconds
    from counted

)

select * from final
