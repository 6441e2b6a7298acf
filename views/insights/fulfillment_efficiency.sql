-- Fulfillment durations and lateness per carrier, per warehouse and per carrier
-- and warehouse (level says which; the other column is NULL). Per shipment:
-- ordered_at = the order's event time, shipped_at / delivered_at = first time the
-- shipment reached SHIPPED / DELIVERED; carrier and warehouse come from its
-- latest event. Durations are whole seconds. Percentiles are nearest-rank: the
-- smallest value with at least p% of the values at or below it (exact and the
-- same on every engine, unlike approximate quantiles). Late = delivered on a UTC
-- day after promised_delivery_date; late_share is of delivered shipments.
WITH reached AS (
  SELECT
    shipment_id,
    MIN(IF(status = 'SHIPPED', event_time, NULL)) AS shipped_at,
    MIN(IF(status = 'DELIVERED', event_time, NULL)) AS delivered_at
  FROM `${project}.${dataset}.shipment_status_reached`
  GROUP BY shipment_id
),
per_shipment AS (
  SELECT
    latest.shipment_id,
    latest.carrier,
    latest.warehouse_id,
    TIMESTAMP_DIFF(reached.shipped_at, o.event_time, SECOND) AS order_to_ship_seconds,
    TIMESTAMP_DIFF(reached.delivered_at, reached.shipped_at, SECOND) AS ship_to_deliver_seconds,
    TIMESTAMP_DIFF(reached.delivered_at, o.event_time, SECOND) AS order_to_deliver_seconds,
    reached.delivered_at IS NOT NULL AS delivered,
    DATE(reached.delivered_at) > latest.promised_delivery_date AS delivered_late
  FROM `${project}.${dataset}.shipments_latest` AS latest
  JOIN reached USING (shipment_id)
  LEFT JOIN `${project}.${dataset}.orders_latest` AS o ON o.order_id = latest.order_id
),
levels AS (
  SELECT
    level,
    IF(level = 'warehouse', NULL, carrier) AS carrier,
    IF(level = 'carrier', NULL, warehouse_id) AS warehouse_id,
    order_to_ship_seconds,
    ship_to_deliver_seconds,
    order_to_deliver_seconds,
    delivered,
    delivered_late
  FROM per_shipment
  CROSS JOIN UNNEST(['carrier', 'warehouse', 'carrier_warehouse']) AS level
),
ranked AS (
  SELECT
    levels.*,
    ROW_NUMBER() OVER (
      PARTITION BY level, carrier, warehouse_id ORDER BY order_to_ship_seconds IS NULL, order_to_ship_seconds
    ) AS ots_rank,
    COUNT(order_to_ship_seconds) OVER (PARTITION BY level, carrier, warehouse_id) AS ots_count,
    ROW_NUMBER() OVER (
      PARTITION BY level, carrier, warehouse_id ORDER BY ship_to_deliver_seconds IS NULL, ship_to_deliver_seconds
    ) AS std_rank,
    COUNT(ship_to_deliver_seconds) OVER (PARTITION BY level, carrier, warehouse_id) AS std_count,
    ROW_NUMBER() OVER (
      PARTITION BY level, carrier, warehouse_id ORDER BY order_to_deliver_seconds IS NULL, order_to_deliver_seconds
    ) AS otd_rank,
    COUNT(order_to_deliver_seconds) OVER (PARTITION BY level, carrier, warehouse_id) AS otd_count
  FROM levels
)
SELECT
  level,
  carrier,
  warehouse_id,
  COUNT(*) AS shipments,
  COUNTIF(delivered) AS delivered_shipments,
  MIN(IF(order_to_ship_seconds IS NOT NULL AND ots_rank * 100 >= 50 * ots_count, order_to_ship_seconds, NULL))
    AS order_to_ship_p50_seconds,
  MIN(IF(order_to_ship_seconds IS NOT NULL AND ots_rank * 100 >= 90 * ots_count, order_to_ship_seconds, NULL))
    AS order_to_ship_p90_seconds,
  MIN(IF(ship_to_deliver_seconds IS NOT NULL AND std_rank * 100 >= 50 * std_count, ship_to_deliver_seconds, NULL))
    AS ship_to_deliver_p50_seconds,
  MIN(IF(ship_to_deliver_seconds IS NOT NULL AND std_rank * 100 >= 90 * std_count, ship_to_deliver_seconds, NULL))
    AS ship_to_deliver_p90_seconds,
  MIN(IF(order_to_deliver_seconds IS NOT NULL AND otd_rank * 100 >= 50 * otd_count, order_to_deliver_seconds, NULL))
    AS order_to_deliver_p50_seconds,
  MIN(IF(order_to_deliver_seconds IS NOT NULL AND otd_rank * 100 >= 90 * otd_count, order_to_deliver_seconds, NULL))
    AS order_to_deliver_p90_seconds,
  COUNTIF(delivered_late) AS late_shipments,
  ROUND(SAFE_DIVIDE(CAST(COUNTIF(delivered_late) AS NUMERIC), COUNTIF(delivered)), 4) AS late_share
FROM ranked
GROUP BY 1, 2, 3
