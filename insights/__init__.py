"""The six insights: BigQuery views over the fact and aggregate tables, and an HTML report of them."""
