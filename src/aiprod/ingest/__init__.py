"""Ingest: sources in, normalised fixed-length clips with lineage out."""
