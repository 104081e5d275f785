"""The `number_theory` environment family."""
