-- The "now" of every insight: the latest event time seen in either fact table.
-- Deriving it from the data (never CURRENT_TIMESTAMP()) makes every view a pure
-- function of the tables, so a replay or a test gets the same answer every time.
SELECT MAX(event_time) AS as_of
FROM (
  SELECT event_time FROM `${project}.${dataset}.orders`
  UNION ALL
  SELECT event_time FROM `${project}.${dataset}.shipments`
)
