-- One row per shipment and status: the first time the shipment reached that
-- status (by event time, so a late-arriving event still counts at its own time).
SELECT *
FROM `${project}.${dataset}.shipments`
WHERE TRUE
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY shipment_id, status
  ORDER BY event_time, publish_time, event_key, ingest_time, message_id
) = 1
