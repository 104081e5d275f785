"""The `unit_conversion` environment family."""
