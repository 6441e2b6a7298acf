-- Fraud signals: one row per order (latest version), each flag explainable on
-- its own, and a score = the sum of the weights of the raised flags.
--   flag_velocity: the customer placed more than fraud_velocity_max_orders orders
--     in the fraud_velocity_window_seconds up to and including this order's time.
--   flag_billing_shipping_mismatch: billing country differs from shipping country.
--   flag_ip_country_mismatch: client IP country known and not the billing country.
--   flag_card_country_mismatch: card BIN country known and not the billing country.
--   flag_high_value_new_customer: the customer's first order (by time, then id) is
--     worth at least fraud_high_value_multiple times the average order value in
--     its currency (compared as total * orders >= multiple * revenue: no division).
--   flag_many_addresses: the customer used more than fraud_max_addresses distinct
--     delivery addresses across their orders.
-- needs_review: score >= fraud_review_score.
WITH o AS (
  SELECT
    *,
    COUNT(*) OVER (
      PARTITION BY customer_id ORDER BY UNIX_SECONDS(event_time)
      RANGE BETWEEN ${fraud_velocity_window_seconds} PRECEDING AND CURRENT ROW
    ) AS customer_orders_in_window,
    ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY event_time, order_id) = 1 AS is_first_order
  FROM `${project}.${dataset}.orders_latest`
),
addresses AS (
  SELECT customer_id, COUNT(DISTINCT customer_address_id) AS customer_address_count
  FROM o
  GROUP BY customer_id
),
currency_totals AS (
  SELECT currency, COUNT(*) AS currency_orders, SUM(total_amount) AS currency_revenue
  FROM o
  GROUP BY currency
),
flagged AS (
  SELECT
    o.order_id,
    o.customer_id,
    o.event_time,
    o.currency,
    o.total_amount,
    o.payment_method,
    o.billing_country,
    o.shipping_country,
    o.client_ip_country,
    o.card_bin_country,
    o.customer_orders_in_window,
    addresses.customer_address_count,
    o.is_first_order,
    o.customer_orders_in_window > ${fraud_velocity_max_orders} AS flag_velocity,
    o.billing_country != o.shipping_country AS flag_billing_shipping_mismatch,
    o.client_ip_country IS NOT NULL AND o.client_ip_country != o.billing_country AS flag_ip_country_mismatch,
    o.card_bin_country IS NOT NULL AND o.card_bin_country != o.billing_country AS flag_card_country_mismatch,
    o.is_first_order
      AND o.total_amount * currency_totals.currency_orders >= ${fraud_high_value_multiple} * currency_totals.currency_revenue
      AS flag_high_value_new_customer,
    addresses.customer_address_count > ${fraud_max_addresses} AS flag_many_addresses
  FROM o
  JOIN addresses USING (customer_id)
  JOIN currency_totals USING (currency)
),
scored AS (
  SELECT
    flagged.*,
    IF(flag_velocity, ${fraud_weight_velocity}, 0)
      + IF(flag_billing_shipping_mismatch, ${fraud_weight_billing_shipping_mismatch}, 0)
      + IF(flag_ip_country_mismatch, ${fraud_weight_ip_country_mismatch}, 0)
      + IF(flag_card_country_mismatch, ${fraud_weight_card_country_mismatch}, 0)
      + IF(flag_high_value_new_customer, ${fraud_weight_high_value_new_customer}, 0)
      + IF(flag_many_addresses, ${fraud_weight_many_addresses}, 0) AS fraud_score
  FROM flagged
)
SELECT
  scored.*,
  fraud_score >= ${fraud_review_score} AS needs_review
FROM scored
