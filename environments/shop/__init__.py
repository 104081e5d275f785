"""shop tool environments."""
