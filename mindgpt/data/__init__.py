"""Data: corpus preparation and token shards, offline datasets, the mindspore.dataset pipeline."""
