"""Comparing models: likelihood-ratio tests, nesting, random-effects tests and selection."""
