-- One row per shipment: its latest status by event time (an out-of-order event
-- never overrides a later one), with how long it has been quiet as of the data's
-- latest event and whether that makes it stuck: not in a terminal status
-- (DELIVERED, RETURNED) and no event for more than stuck_after_hours.
WITH as_of AS (
  SELECT MAX(event_time) AS as_of
  FROM (
    SELECT event_time FROM `${project}.${dataset}.orders`
    UNION ALL
    SELECT event_time FROM `${project}.${dataset}.shipments`
  )
),
latest AS (
  SELECT *
  FROM `${project}.${dataset}.shipments`
  WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (
    PARTITION BY shipment_id
    ORDER BY event_time DESC, publish_time DESC, event_key DESC, ingest_time DESC, message_id DESC
  ) = 1
)
SELECT
  latest.*,
  as_of.as_of,
  TIMESTAMP_DIFF(as_of.as_of, latest.event_time, SECOND) AS seconds_since_last_event,
  latest.status NOT IN ('DELIVERED', 'RETURNED')
    AND TIMESTAMP_DIFF(as_of.as_of, latest.event_time, SECOND) > ${stuck_after_hours} * 3600 AS is_stuck
FROM latest
CROSS JOIN as_of
