"""Metrics against values worked out by hand (and scipy where it is installed)."""
import numpy as np
import pytest

from mindgpt.metrics import accuracy, f1, matthews_corrcoef, pearson, predict, spearman, task_metrics

LABELS = np.array([0, 0, 1, 1, 1, 2])
PREDICTIONS = np.array([0, 1, 1, 1, 2, 2])


def test_accuracy_and_f1_by_hand():
    assert accuracy(LABELS, PREDICTIONS) == pytest.approx(4 / 6)
    # per class F1: 0 -> 2*1/(1+2), 1 -> 2*2/(3+3), 2 -> 2*1/(2+1)
    assert f1(LABELS, PREDICTIONS) == pytest.approx(np.mean([2 / 3, 2 / 3, 2 / 3]))
    assert f1([0, 1, 1, 0], [0, 1, 0, 0], average="binary") == pytest.approx(2 * 1 / (1 + 2))
    with pytest.raises(ValueError, match="average='micro'"):
        f1(LABELS, PREDICTIONS, average="micro")


def test_matthews_binary_matches_the_textbook_formula():
    y, p = np.array([1, 1, 1, 0, 0, 0, 1, 0]), np.array([1, 1, 0, 0, 0, 1, 1, 0])
    tp, tn, fp, fn = 3, 3, 1, 1
    expected = (tp * tn - fp * fn) / np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert matthews_corrcoef(y, p) == pytest.approx(expected)
    assert matthews_corrcoef(y, y) == pytest.approx(1.0)
    assert matthews_corrcoef(y, 1 - y) == pytest.approx(-1.0)


def test_degenerate_inputs_score_zero_not_nan():
    assert matthews_corrcoef([0, 1, 0], [1, 1, 1]) == 0.0
    assert pearson([1, 2, 3], [5, 5, 5]) == 0.0
    with pytest.raises(ValueError, match="equally long"):
        accuracy([0, 1], [0])


def test_correlations_against_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, 40).astype(float)  # ties exercise the mean-rank rule
    y = x + rng.normal(0, 2, 40)
    assert pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0])
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0])
    assert spearman([1, 2, 3, 4], [10, 20, 30, 1000]) == pytest.approx(1.0)


def test_task_metrics_per_label_type():
    assert set(task_metrics("classification", LABELS, PREDICTIONS)) == {"accuracy", "f1", "mcc"}
    regression = task_metrics("regression", [0.1, 0.5, 0.9], predict("regression", np.array([[0.2], [0.4], [1.0]])))
    assert regression["pearson"] > 0.9 and regression["spearman"] == pytest.approx(1.0)
    assert regression["mse"] == pytest.approx(0.01)
    choice = predict("multiple_choice", np.array([[0.1, 2.0], [3.0, 0.0]]))
    assert task_metrics("multiple_choice", [1, 1], choice) == {"accuracy": 0.5}
    with pytest.raises(ValueError, match="unknown label type 'ranking'"):
        task_metrics("ranking", [1], [1])
