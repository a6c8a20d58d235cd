"""mindgpt: GPT-1 on MindSpore."""
from .config import GPTConfig

__all__ = ["GPTConfig"]
