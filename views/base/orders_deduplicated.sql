-- One row per order event (event_key = sha256 of the payload): redeliveries and
-- relaunches write the same event more than once; the first delivery is kept.
SELECT *
FROM `${project}.${dataset}.orders`
WHERE TRUE
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY event_key
  ORDER BY publish_time, ingest_time, message_id
) = 1
