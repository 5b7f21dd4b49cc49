"""Broken on purpose: every entry point here fails in a different way."""
