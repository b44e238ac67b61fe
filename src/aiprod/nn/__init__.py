"""The neural networks: video VAE, text encoders, hybrid backbone, flow guidance, rectified flow."""
