-- One row per order: its latest event. A shop that re-publishes an order with a
-- corrected payload produces a new event_key; the latest event time wins, then the
-- latest publish time. The remaining keys only make the choice among identical
-- redeliveries deterministic.
SELECT *
FROM `${project}.${dataset}.orders`
WHERE TRUE
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY order_id
  ORDER BY event_time DESC, publish_time DESC, event_key DESC, ingest_time DESC, message_id DESC
) = 1
