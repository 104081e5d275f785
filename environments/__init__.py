"""Built-in openenvs environments, one folder per family (found through registry.json)."""
