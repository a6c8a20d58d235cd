"""Data: corpus preparation and token shards, offline datasets, the mindspore.dataset pipeline."""
from .pipeline import load_dataset

__all__ = ["load_dataset"]
