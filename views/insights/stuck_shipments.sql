-- Shipments stuck in a status: not delivered or returned, and no event for more
-- than stuck_after_hours before the data's as-of time (see shipments_latest).
SELECT
  shipment_id,
  order_id,
  carrier,
  warehouse_id,
  destination_region,
  status,
  event_time AS last_event_time,
  as_of,
  seconds_since_last_event
FROM `${project}.${dataset}.shipments_latest`
WHERE is_stuck
