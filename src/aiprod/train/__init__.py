"""Training machinery shared by the VAE and backbone stages: checkpoints, EMA, the loop."""
