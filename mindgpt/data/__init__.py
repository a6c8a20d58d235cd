"""Data: pinned offline sources, the one cache, pretraining corpora and token shards, labelled datasets, and the
mindspore.dataset pipeline. Nothing here imports the model, training or CLI layers."""
from .pipeline import load_dataset

__all__ = ["load_dataset"]
