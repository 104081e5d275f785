"""calculator tool environments."""
