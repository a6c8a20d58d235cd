"""The paper's evaluation metrics in numpy: accuracy, F1, Matthews correlation, Pearson and Spearman.

Each label type reports a fixed set (`task_metrics`), so every run of a task is compared on the same
numbers: classes get accuracy, macro F1 and Matthews correlation (CoLA's metric, fair on skewed
classes), regression gets Pearson and Spearman (STS-B's) and the mean squared error, multiple choice
gets accuracy. Degenerate inputs (one class only, constant predictions) score 0, not NaN, so a
collapsed model reads as "no signal" in a table instead of breaking the mean over seeds.
"""
from __future__ import annotations

import numpy as np

LABEL_TYPES = ("classification", "regression", "multiple_choice")


def accuracy(labels: np.ndarray, predictions: np.ndarray) -> float:
    labels, predictions = _pair(labels, predictions)
    return float(np.mean(labels == predictions))


def f1(labels: np.ndarray, predictions: np.ndarray, average: str = "macro") -> float:
    """F1 per class, then averaged: "macro" (every class counts alike) or "binary" (class 1 only)."""
    labels, predictions = _pair(labels, predictions)
    if average == "binary":
        return _f1_of(labels, predictions, 1)
    if average != "macro":
        raise ValueError(f"average={average!r} is unknown; use 'macro' or 'binary'")
    classes = np.union1d(labels, predictions)
    return float(np.mean([_f1_of(labels, predictions, c) for c in classes]))


def _f1_of(labels: np.ndarray, predictions: np.ndarray, positive: int) -> float:
    tp = np.sum((predictions == positive) & (labels == positive))
    predicted, actual = np.sum(predictions == positive), np.sum(labels == positive)
    return float(2 * tp / (predicted + actual)) if predicted + actual else 0.0


def matthews_corrcoef(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Matthews correlation for any number of classes (Gorodkin's R_K); 0 when either side is constant."""
    labels, predictions = _pair(labels, predictions)
    classes = np.union1d(labels, predictions)
    confusion = np.zeros((len(classes), len(classes)))
    np.add.at(confusion, (np.searchsorted(classes, labels), np.searchsorted(classes, predictions)), 1)
    n, correct = confusion.sum(), np.trace(confusion)
    actual, predicted = confusion.sum(1), confusion.sum(0)
    numerator = correct * n - actual @ predicted
    denominator = np.sqrt((n * n - predicted @ predicted) * (n * n - actual @ actual))
    return float(numerator / denominator) if denominator else 0.0


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    x, y = _pair(np.asarray(x, np.float64), np.asarray(y, np.float64))
    x, y = x - x.mean(), y - y.mean()
    denominator = np.sqrt((x @ x) * (y @ y))
    return float(x @ y / denominator) if denominator else 0.0


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of the ranks, ties sharing their mean rank (as scipy.stats.spearmanr)."""
    x, y = _pair(x, y)
    return pearson(_ranks(x), _ranks(y))


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)
    if len(a) != len(b) or len(a) == 0:
        raise ValueError(f"metrics need two equally long, non-empty arrays, got {len(a)} and {len(b)} values")
    return a, b


def predict(label_type: str, logits: np.ndarray) -> np.ndarray:
    """Model outputs → predictions: the argmax class or choice, or the regression score itself."""
    if label_type == "regression":
        return np.asarray(logits, np.float64).reshape(-1)
    return np.asarray(logits).argmax(-1)


def task_metrics(label_type: str, labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """The metrics reported for a label type (one of `LABEL_TYPES`), from labels and `predict`'s output."""
    if label_type == "classification":
        return {"accuracy": accuracy(labels, predictions), "f1": f1(labels, predictions),
                "mcc": matthews_corrcoef(labels, predictions)}
    if label_type == "regression":
        labels, predictions = _pair(np.asarray(labels, np.float64), np.asarray(predictions, np.float64))
        return {"pearson": pearson(labels, predictions), "spearman": spearman(labels, predictions),
                "mse": float(np.mean((labels - predictions) ** 2))}
    if label_type == "multiple_choice":
        return {"accuracy": accuracy(labels, predictions)}
    raise ValueError(f"unknown label type {label_type!r}; choose one of {LABEL_TYPES}")
