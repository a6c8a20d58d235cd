"""mindgpt: GPT-1 ("Improving Language Understanding by Generative Pre-Training") on MindSpore.

The `OpenAIGPT*` names are the same classes under transformers' and mindnlp's names, so code written for them
changes only its import. Names load on first use (PEP 562), so `mindgpt.config` and `mindgpt.tokenizer` import
without MindSpore: the benchmarks, data preparation and tokenizer work run where it is not installed.
"""
from __future__ import annotations

import importlib
from typing import Any

# public name -> (module, attribute)
_EXPORTS = {
    "GPTConfig": ("config", "GPTConfig"),
    "GPTTokenizer": ("tokenizer", "GPTTokenizer"),
    "GPTPreTrainedModel": ("model", "GPTPreTrainedModel"),
    "GPTModel": ("model", "GPTModel"),
    "GPTLMHeadModel": ("model", "GPTLMHeadModel"),
    "GPTForSequenceClassification": ("model", "GPTForSequenceClassification"),
    "GPTDoubleHeadsModel": ("model", "GPTDoubleHeadsModel"),
    "Trainer": ("train.trainer", "Trainer"),
    "TrainingArguments": ("train.trainer", "TrainingArguments"),
    "EvalPrediction": ("train.trainer", "EvalPrediction"),
    "TrainerCallback": ("train.trainer", "TrainerCallback"),
    "score": ("likelihood", "score"),  # the function: `mindgpt.score(model, tokenizer, texts)`
}
_EXPORTS.update({"OpenAIGPT" + name[len("GPT"):]: _EXPORTS[name]
                 for name in ("GPTConfig", "GPTTokenizer", "GPTPreTrainedModel", "GPTModel", "GPTLMHeadModel",
                              "GPTForSequenceClassification", "GPTDoubleHeadsModel")})

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mindgpt' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(f".{module}", __name__), attribute)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
