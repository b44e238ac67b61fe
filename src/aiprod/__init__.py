"""AIPROD: raw footage to a text-to-video model, one reproducible DAG."""

__version__ = "0.1.0"
