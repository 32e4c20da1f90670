"""Labelled configurations: loading, validation, provenance hashes, reproducible splits."""
