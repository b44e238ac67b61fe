"""Curation: scores, captions and the curriculum, as pure functions over clips and tables."""
