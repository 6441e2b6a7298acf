-- One row per order event (event_key = sha256 of the payload): redeliveries and
-- relaunches write the same event more than once; the first delivery is kept.
-- Pub/Sub metadata may be absent (NULL, named in missing_metadata): a delivery that
-- carries it is preferred, so the kept row can be traced; the event is the same.
SELECT *
FROM `${project}.${dataset}.orders`
WHERE TRUE
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY event_key
  ORDER BY publish_time IS NULL, message_id IS NULL, publish_time, ingest_time, message_id
) = 1
