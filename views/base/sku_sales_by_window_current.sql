-- The current value of every window of `sku_sales_by_window`: the pipeline appends one row per
-- pane (early, on time, late), so the highest pane_index per window and key wins.
SELECT *
FROM `${project}.${dataset}.sku_sales_by_window`
WHERE TRUE
QUALIFY ROW_NUMBER() OVER (
  PARTITION BY window_start, window_end, sku, currency
  ORDER BY pane_index DESC, emitted_at DESC
) = 1
