"""Video input and output: probing and decoding with PyAV, encoding with ffmpeg."""
