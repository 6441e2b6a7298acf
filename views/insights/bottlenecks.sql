-- Supply-chain bottlenecks per carrier, warehouse and destination region
-- (dimension says which; value is the carrier, warehouse or region): how many
-- shipments are stuck now, and the share of shipments that ever hit EXCEPTION or
-- were RETURNED. Each shipment counts once, under its latest carrier, warehouse
-- and region. Rates are fractions rounded to 4 places.
WITH statuses AS (
  SELECT
    shipment_id,
    LOGICAL_OR(status = 'EXCEPTION') AS had_exception,
    LOGICAL_OR(status = 'RETURNED') AS was_returned
  FROM `${project}.${dataset}.shipment_status_reached`
  GROUP BY shipment_id
),
per_shipment AS (
  SELECT latest.carrier, latest.warehouse_id, latest.destination_region, latest.is_stuck, statuses.had_exception, statuses.was_returned
  FROM `${project}.${dataset}.shipments_latest` AS latest
  JOIN statuses USING (shipment_id)
),
by_dimension AS (
  SELECT
    dimension,
    CASE dimension WHEN 'carrier' THEN carrier WHEN 'warehouse' THEN warehouse_id ELSE destination_region END AS value,
    is_stuck,
    had_exception,
    was_returned
  FROM per_shipment
  CROSS JOIN UNNEST(['carrier', 'warehouse', 'region']) AS dimension
)
SELECT
  dimension,
  value,
  COUNT(*) AS shipments,
  COUNTIF(is_stuck) AS stuck_shipments,
  COUNTIF(had_exception) AS exception_shipments,
  ROUND(SAFE_DIVIDE(CAST(COUNTIF(had_exception) AS NUMERIC), COUNT(*)), 4) AS exception_rate,
  COUNTIF(was_returned) AS returned_shipments,
  ROUND(SAFE_DIVIDE(CAST(COUNTIF(was_returned) AS NUMERIC), COUNT(*)), 4) AS return_rate
FROM by_dimension
GROUP BY 1, 2
