-- The value of every `order_revenue_by_window` window,
-- computed from the deduplicated order facts (one row per event_key),
-- so it is right however many jobs contributed: a relaunched job starts with empty state, and its panes
-- count only what it saw itself (README, "Aggregates across relaunches"). Windows are the pipelines'
-- fixed event-time windows of ${window_seconds} s. Every event the fact table holds counts, also one later
-- than the allowed lateness, which the pipelines no longer add to a pane.
-- is_final: the data's newest event (data_as_of) is past the window's end plus the allowed lateness:
-- the pipelines will not update the window again. Otherwise the value is provisional.
-- stream_*: the latest pane the pipelines emitted for the window and key, with the job that emitted it
-- (NULL when no job emitted one); stream_agrees: that pane equals the value from the facts.
WITH facts AS (
  SELECT *
  FROM `${project}.${dataset}.orders`
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (PARTITION BY event_key) = 1
),
as_of AS (
  SELECT MAX(event_time) AS as_of
  FROM (
    SELECT event_time FROM `${project}.${dataset}.orders`
    UNION ALL
    SELECT event_time FROM `${project}.${dataset}.shipments`
  )
),
from_facts AS (
  SELECT
    -- Beam's FixedWindows start, exact to the microsecond (INT64 arithmetic throughout)
    TIMESTAMP_MICROS(
      UNIX_MICROS(facts.event_time) - MOD(UNIX_MICROS(facts.event_time), CAST(${window_seconds} AS INT64) * 1000000)
    ) AS window_start,
    facts.currency,
    SUM(facts.total_amount) AS revenue,
    COUNT(*) AS order_count
  FROM facts
  GROUP BY 1, 2
),
windows AS (
  SELECT *, TIMESTAMP_ADD(window_start, INTERVAL ${window_seconds} SECOND) AS window_end
  FROM from_facts
),
latest_pane AS (
  SELECT *
  FROM `${project}.${dataset}.order_revenue_by_window`
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY window_start, currency
    ORDER BY emitted_at DESC, pane_index DESC
  ) = 1
)
SELECT
  w.window_start,
  w.window_end,
  w.currency,
  w.revenue,
  w.order_count,
  as_of.as_of >= TIMESTAMP_ADD(w.window_end, INTERVAL ${allowed_lateness_seconds} SECOND) AS is_final,
  p.pane_timing AS stream_pane_timing,
  p.pane_index AS stream_pane_index,
  p.emitted_at AS stream_emitted_at,
  p.job_id AS stream_job_id,
  p.job_name AS stream_job_name,
  p.job_attempt AS stream_job_attempt,
  COALESCE(p.revenue = w.revenue AND p.order_count = w.order_count, FALSE) AS stream_agrees
FROM windows AS w
CROSS JOIN as_of
LEFT JOIN latest_pane AS p
  ON p.window_start = w.window_start AND p.currency = w.currency
