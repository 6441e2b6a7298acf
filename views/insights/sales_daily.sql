-- Sales trend per UTC day and currency with day-over-day change. Days without
-- orders between a currency's first and last order day are filled with zeros, so
-- "previous day" is always the calendar day before (NULL only on the first day).
WITH daily AS (
  SELECT DATE(event_time) AS day, currency, COUNT(*) AS orders, SUM(total_amount) AS revenue
  FROM `${project}.${dataset}.orders_latest`
  GROUP BY 1, 2
),
bounds AS (
  SELECT currency, MIN(day) AS first_day, MAX(day) AS last_day
  FROM daily
  GROUP BY currency
),
calendar AS (
  SELECT bounds.currency, day
  FROM bounds
  CROSS JOIN UNNEST(GENERATE_DATE_ARRAY(bounds.first_day, bounds.last_day)) AS day
),
filled AS (
  SELECT
    calendar.day,
    calendar.currency,
    COALESCE(daily.orders, 0) AS orders,
    COALESCE(daily.revenue, 0) AS revenue
  FROM calendar
  LEFT JOIN daily ON daily.day = calendar.day AND daily.currency = calendar.currency
)
SELECT
  day,
  currency,
  orders,
  revenue,
  ROUND(SAFE_DIVIDE(revenue, orders), 2) AS average_order_value,
  LAG(orders) OVER by_day AS previous_day_orders,
  LAG(revenue) OVER by_day AS previous_day_revenue,
  revenue - LAG(revenue) OVER by_day AS revenue_change,
  ROUND(SAFE_DIVIDE((revenue - LAG(revenue) OVER by_day) * 100, LAG(revenue) OVER by_day), 2) AS revenue_change_pct
FROM filled
WINDOW by_day AS (PARTITION BY currency ORDER BY day)
