"""mindgpt: GPT-1 ("Improving Language Understanding by Generative Pre-Training") on MindSpore."""
from .config import GPTConfig
from .model import (
    GPTDoubleHeadsModel,
    GPTForSequenceClassification,
    GPTLMHeadModel,
    GPTModel,
)
from .score import score  # the function: `mindgpt.score(model, tokenizer, texts)`
from .tokenizer import GPTTokenizer

__all__ = [
    "GPTConfig",
    "GPTModel",
    "GPTLMHeadModel",
    "GPTForSequenceClassification",
    "GPTDoubleHeadsModel",
    "GPTTokenizer",
    "score",
]
