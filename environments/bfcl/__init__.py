"""bfcl tool environments."""
