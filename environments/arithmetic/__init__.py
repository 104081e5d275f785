"""Procedural integer arithmetic (`math/arithmetic-v1`)."""
