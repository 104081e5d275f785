"""The `math_datasets` environment family."""
