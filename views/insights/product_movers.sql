-- Top and bottom movers: units per SKU (all currencies: units do not mix money)
-- in the last movers_window_days before the data's as-of time, against the same
-- length of time just before. Windows are (start, end]: an order exactly on a
-- boundary belongs to the earlier window. rise_rank 1 is the biggest gain,
-- fall_rank 1 the biggest drop; ties break by SKU.
WITH bounds AS (
  SELECT
    as_of AS current_end,
    TIMESTAMP_SUB(as_of, INTERVAL ${movers_window_days} DAY) AS current_start,
    TIMESTAMP_SUB(as_of, INTERVAL 2 * ${movers_window_days} DAY) AS previous_start
  FROM `${project}.${dataset}.data_as_of`
),
lines AS (
  SELECT item.sku, item.quantity, o.event_time
  FROM `${project}.${dataset}.orders_latest` AS o
  CROSS JOIN UNNEST(o.items) AS item
),
per_sku AS (
  SELECT
    lines.sku,
    bounds.previous_start,
    bounds.current_start,
    bounds.current_end,
    SUM(IF(lines.event_time > bounds.current_start AND lines.event_time <= bounds.current_end, lines.quantity, 0))
      AS units_current,
    SUM(IF(lines.event_time > bounds.previous_start AND lines.event_time <= bounds.current_start, lines.quantity, 0))
      AS units_previous
  FROM lines
  CROSS JOIN bounds
  GROUP BY 1, 2, 3, 4
)
SELECT
  sku,
  previous_start,
  current_start,
  current_end,
  units_current,
  units_previous,
  units_current - units_previous AS units_change,
  ROW_NUMBER() OVER (ORDER BY units_current - units_previous DESC, sku) AS rise_rank,
  ROW_NUMBER() OVER (ORDER BY units_current - units_previous ASC, sku) AS fall_rank
FROM per_sku
