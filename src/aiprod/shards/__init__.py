"""Per-phase WebDataset shards: writing them atomically and reading them for training."""
