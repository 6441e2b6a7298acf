-- Units, revenue and share per SKU and currency over all orders (latest version
-- of each order). Shares are fractions of the currency's total, rounded to 4
-- places; the rank breaks revenue ties by SKU so it is deterministic.
WITH lines AS (
  SELECT o.order_id, o.currency, item.sku, item.quantity, item.quantity * item.unit_price AS line_revenue
  FROM `${project}.${dataset}.orders_latest` AS o
  CROSS JOIN UNNEST(o.items) AS item
),
per_sku AS (
  SELECT
    sku,
    currency,
    SUM(quantity) AS units,
    -- NUMERIC before the window sum: the share is then exact NUMERIC division.
    CAST(SUM(quantity) AS NUMERIC) AS units_numeric,
    SUM(line_revenue) AS revenue,
    COUNT(DISTINCT order_id) AS orders
  FROM lines
  GROUP BY 1, 2
)
SELECT
  sku,
  currency,
  units,
  revenue,
  orders,
  ROUND(SAFE_DIVIDE(units_numeric, SUM(units_numeric) OVER (PARTITION BY currency)), 4) AS units_share,
  ROUND(SAFE_DIVIDE(revenue, SUM(revenue) OVER (PARTITION BY currency)), 4) AS revenue_share,
  ROW_NUMBER() OVER (PARTITION BY currency ORDER BY revenue DESC, sku) AS revenue_rank
FROM per_sku
