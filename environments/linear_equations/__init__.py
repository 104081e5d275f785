"""The `linear_equations` environment family."""
