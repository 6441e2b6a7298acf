-- The current value of every window of `late_shipments_by_window`: the pipeline appends one row per
-- pane (early, on time, late), so the highest pane_index per window and key wins.
SELECT *
FROM `${project}.${dataset}.late_shipments_by_window`
WHERE TRUE
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY window_start, window_end, carrier, warehouse_id
  ORDER BY pane_index DESC, emitted_at DESC
) = 1
