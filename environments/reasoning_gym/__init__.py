"""The `reasoning_gym` environment family."""
