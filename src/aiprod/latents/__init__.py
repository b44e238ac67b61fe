"""Latent shards: every training window encoded once by the trained VAE, streamed by the
training, mining and evaluation stages."""
