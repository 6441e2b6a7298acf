-- The value of every `late_shipments_by_window` window,
-- computed from the deduplicated shipment facts (one row per event_key),
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
  FROM `${project}.${dataset}.shipments`
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
    facts.carrier,
    facts.warehouse_id,
    COUNT(*) AS delivered_count,
    -- late: delivered on a UTC calendar day after the promised date (pipelines/validation.py is_late_delivery)
    COUNTIF(DATE(facts.event_time) > facts.promised_delivery_date) AS late_count
  FROM facts
  WHERE facts.status = 'DELIVERED'
  GROUP BY 1, 2, 3
),
windows AS (
  SELECT *, TIMESTAMP_ADD(window_start, INTERVAL ${window_seconds} SECOND) AS window_end
  FROM from_facts
),
latest_pane AS (
  SELECT *
  FROM `${project}.${dataset}.late_shipments_by_window`
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY window_start, carrier, warehouse_id
    ORDER BY emitted_at DESC, pane_index DESC
  ) = 1
)
SELECT
  w.window_start,
  w.window_end,
  w.carrier,
  w.warehouse_id,
  w.delivered_count,
  w.late_count,
  as_of.as_of >= TIMESTAMP_ADD(w.window_end, INTERVAL ${allowed_lateness_seconds} SECOND) AS is_final,
  p.pane_timing AS stream_pane_timing,
  p.pane_index AS stream_pane_index,
  p.emitted_at AS stream_emitted_at,
  p.job_id AS stream_job_id,
  p.job_name AS stream_job_name,
  p.job_attempt AS stream_job_attempt,
  COALESCE(p.delivered_count = w.delivered_count AND p.late_count = w.late_count, FALSE) AS stream_agrees
FROM windows AS w
CROSS JOIN as_of
LEFT JOIN latest_pane AS p
  ON p.window_start = w.window_start AND p.carrier = w.carrier AND p.warehouse_id = w.warehouse_id
