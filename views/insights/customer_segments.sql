-- RFM per customer and currency (monetary value never mixes currencies).
-- Recency = whole UTC days from the last order to the data's as-of day, scored
-- 5..1 by the fixed rfm_r*_max_days bounds; frequency = orders, scored by the
-- fixed rfm_f*_min_orders bounds (fixed bins stay meaningful when most customers
-- tie, e.g. everyone ordered today or once). Monetary = revenue, scored as a
-- quintile among the customers of the same currency: 1 + floor(5 * (rank - 1) / n),
-- rank from least to most, ties sharing the lower rank. Segments are checked top
-- to bottom; the first match names the customer.
WITH per_customer AS (
  SELECT customer_id, currency, MAX(event_time) AS last_order_time, COUNT(*) AS frequency, SUM(total_amount) AS monetary
  FROM `${project}.${dataset}.orders_latest`
  GROUP BY 1, 2
),
measured AS (
  SELECT
    per_customer.*,
    DATE_DIFF(DATE(data_as_of.as_of), DATE(per_customer.last_order_time), DAY) AS recency_days,
    COUNT(*) OVER (PARTITION BY per_customer.currency) AS customers_in_currency
  FROM per_customer
  CROSS JOIN `${project}.${dataset}.data_as_of` AS data_as_of
),
scored AS (
  SELECT
    measured.*,
    CASE
      WHEN recency_days <= ${rfm_r5_max_days} THEN 5
      WHEN recency_days <= ${rfm_r4_max_days} THEN 4
      WHEN recency_days <= ${rfm_r3_max_days} THEN 3
      WHEN recency_days <= ${rfm_r2_max_days} THEN 2
      ELSE 1
    END AS r_score,
    CASE
      WHEN frequency >= ${rfm_f5_min_orders} THEN 5
      WHEN frequency >= ${rfm_f4_min_orders} THEN 4
      WHEN frequency >= ${rfm_f3_min_orders} THEN 3
      WHEN frequency >= ${rfm_f2_min_orders} THEN 2
      ELSE 1
    END AS f_score,
    1 + DIV(5 * (RANK() OVER (PARTITION BY currency ORDER BY monetary) - 1), customers_in_currency) AS m_score
  FROM measured
)
SELECT
  customer_id,
  currency,
  last_order_time,
  recency_days,
  frequency,
  monetary,
  r_score,
  f_score,
  m_score,
  CONCAT(CAST(r_score AS STRING), CAST(f_score AS STRING), CAST(m_score AS STRING)) AS rfm_cell,
  CASE
    WHEN r_score >= 4 AND f_score >= 4 AND m_score >= 4 THEN 'Champions'
    WHEN r_score >= 3 AND f_score >= 3 THEN 'Loyal'
    WHEN r_score >= 4 THEN 'New or promising'
    WHEN r_score <= 2 AND f_score >= 3 THEN 'At risk'
    WHEN r_score <= 2 THEN 'Hibernating'
    ELSE 'Needs attention'
  END AS segment
FROM scored
