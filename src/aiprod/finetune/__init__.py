"""The short path: LoRA adapters on a pretrained video model, trained on curated shards."""
