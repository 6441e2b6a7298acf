-- Sales trend per hour and currency (revenue never mixes currencies): orders,
-- revenue and average order value, counting each order once in its latest version.
SELECT
  TIMESTAMP_TRUNC(event_time, HOUR) AS hour_start,
  currency,
  COUNT(*) AS orders,
  SUM(total_amount) AS revenue,
  ROUND(SUM(total_amount) / COUNT(*), 2) AS average_order_value
FROM `${project}.${dataset}.orders_latest`
GROUP BY 1, 2
