"""Training: the compiled train step, optimizer groups and learning-rate schedules."""
from .optim import build_optimizer, lr_schedule
from .step import make_train_step

__all__ = ["build_optimizer", "lr_schedule", "make_train_step"]
