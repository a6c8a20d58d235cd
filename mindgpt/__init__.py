"""mindgpt: GPT-1 ("Improving Language Understanding by Generative Pre-Training") on MindSpore.

The `OpenAIGPT*` names are the same classes under transformers' and mindnlp's names, so code written for them
changes only its import.
"""
from .config import GPTConfig
from .model import (
    GPTDoubleHeadsModel,
    GPTForSequenceClassification,
    GPTLMHeadModel,
    GPTModel,
    GPTPreTrainedModel,
)
from .score import score  # the function: `mindgpt.score(model, tokenizer, texts)`
from .tokenizer import GPTTokenizer
from .train.trainer import EvalPrediction, Trainer, TrainerCallback, TrainingArguments

OpenAIGPTConfig = GPTConfig
OpenAIGPTPreTrainedModel = GPTPreTrainedModel
OpenAIGPTModel = GPTModel
OpenAIGPTLMHeadModel = GPTLMHeadModel
OpenAIGPTDoubleHeadsModel = GPTDoubleHeadsModel
OpenAIGPTForSequenceClassification = GPTForSequenceClassification
OpenAIGPTTokenizer = GPTTokenizer

__all__ = [
    "GPTConfig",
    "GPTPreTrainedModel",
    "GPTModel",
    "GPTLMHeadModel",
    "GPTForSequenceClassification",
    "GPTDoubleHeadsModel",
    "GPTTokenizer",
    "OpenAIGPTConfig",
    "OpenAIGPTPreTrainedModel",
    "OpenAIGPTModel",
    "OpenAIGPTLMHeadModel",
    "OpenAIGPTForSequenceClassification",
    "OpenAIGPTDoubleHeadsModel",
    "OpenAIGPTTokenizer",
    "Trainer",
    "TrainingArguments",
    "EvalPrediction",
    "TrainerCallback",
    "score",
]
