"""Shared test set-up: GRAPH_MODE on CPU unless a test asks for PyNative."""
import os

import mindspore as ms
import numpy as np
import pytest

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")

ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")


@pytest.fixture(params=["graph", "pynative"])
def any_mode(request):
    """Run a test in both execution modes, restoring graph mode afterwards."""
    ms.set_context(mode=ms.GRAPH_MODE if request.param == "graph" else ms.PYNATIVE_MODE)
    yield request.param
    ms.set_context(mode=ms.GRAPH_MODE)


def tensor(array, dtype=ms.int32):
    """numpy → MindSpore tensor (int32 by default: token ids, masks, labels)."""
    return ms.Tensor(np.asarray(array), dtype)
