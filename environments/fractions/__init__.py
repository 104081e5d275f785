"""The `fractions` environment family."""
