"""The shapes world: a procedurally rendered demo corpus with ground truth."""
