-- One row per shipment status event (event_key): the first delivery is kept,
-- preferring one that carries its Pub/Sub metadata (see orders_deduplicated).
SELECT *
FROM `${project}.${dataset}.shipments`
WHERE TRUE
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY event_key
  ORDER BY publish_time IS NULL, message_id IS NULL, publish_time, ingest_time, message_id
) = 1
