"""load_torch_state_dict against real torch.save output (fixtures made by fixtures/make_torch_pickle_fixture.py).

No torch here: the point of the loader is to work, and stay safe, where torch is not installed.
"""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from mindgpt.torch_pickle import load_torch_state_dict

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "torch_pickle")
EXPECTED = dict(np.load(os.path.join(FIXTURES, "expected.npz")))


def fixture(name: str) -> str:
    return os.path.join(FIXTURES, name)


def assert_same(loaded: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert list(loaded) == list(expected)
    for name, array in loaded.items():
        assert array.dtype == expected[name].dtype, name
        assert array.shape == expected[name].shape, name
        assert np.array_equal(array, expected[name]), name
        assert array.flags.c_contiguous and array.dtype.isnative, name


@pytest.mark.parametrize("name", ["zip.bin", "legacy.bin", "wrapped.bin"])
def test_loads_what_torch_saved(name):
    assert_same(load_torch_state_dict(fixture(name)), EXPECTED)


def test_honors_big_endian_byteorder_record():
    assert_same(load_torch_state_dict(fixture("big_endian.bin")), {"f32": EXPECTED["f32"]})


def test_bfloat16_widens_exactly_to_float32():
    bf16 = load_torch_state_dict(fixture("zip.bin"))["bf16"]
    assert bf16.dtype == np.float32
    assert bf16[:3].tolist() == [1.0, -2.5, 3.140625]


def test_tensors_sharing_a_storage_are_independent_copies():
    sd = load_torch_state_dict(fixture("zip.bin"))
    np.testing.assert_array_equal(sd["tied_b"], sd["tied_a"])
    np.testing.assert_array_equal(sd["tied_row"], sd["tied_a"][2])
    sd["tied_a"][0, 0] += 1
    assert sd["tied_b"][0, 0] != sd["tied_a"][0, 0]


def test_refuses_foreign_global_without_calling_it(capsys):
    with pytest.raises(ValueError, match=r"builtins\.print"):
        load_torch_state_dict(fixture("malicious.bin"))
    assert capsys.readouterr().out == ""


def test_refuses_os_system_in_a_bare_pickle(tmp_path):
    path = tmp_path / "evil.bin"
    path.write_bytes(b"\x80\x02cos\nsystem\n.")  # only names os.system, never calls it
    with pytest.raises(ValueError, match=r"os\.system"):
        load_torch_state_dict(path)


def test_refuses_non_tensor_entries(tmp_path):
    path = tmp_path / "ints.bin"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ints/data.pkl", pickle.dumps({"step": 3}, protocol=2))
    with pytest.raises(ValueError, match="'step' is a int"):
        load_torch_state_dict(path)


@pytest.mark.parametrize("name", ["zip.bin", "legacy.bin"])
@pytest.mark.parametrize("keep", [0.5, 0.9, -1])
def test_truncated_file(tmp_path, name, keep):
    data = open(fixture(name), "rb").read()
    path = tmp_path / name
    path.write_bytes(data[:keep] if keep == -1 else data[: int(len(data) * keep)])
    with pytest.raises(ValueError, match=r"truncated or corrupt"):
        load_torch_state_dict(path)


def rewrite_zip(src: str, dst: str, edit) -> None:
    """Copy a zip, passing each (name, data) through `edit`, which returns new data or None to drop it."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = edit(name, zin.read(name))
            if data is not None:
                zout.writestr(name, data)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda name, data: None if name == "zip/data/0" else data, id="missing-storage"),
        pytest.param(lambda name, data: data[:-4] if name == "zip/data/0" else data, id="short-storage"),
        pytest.param(lambda name, data: data[:40] if name == "zip/data.pkl" else data, id="cut-pickle"),
        pytest.param(lambda name, data: b"not a pickle" if name == "zip/data.pkl" else data, id="not-a-pickle"),
    ],
)
def test_corrupt_zip_members(tmp_path, edit):
    path = tmp_path / "zip.bin"
    rewrite_zip(fixture("zip.bin"), path, edit)
    with pytest.raises(ValueError, match=r"truncated or corrupt"):
        load_torch_state_dict(path)


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.bin"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match=r"noise\.bin: .*truncated or corrupt"):
        load_torch_state_dict(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_torch_state_dict(tmp_path / "pytorch_model.bin")


def test_does_not_import_torch():
    code = (
        "import sys; from mindgpt.torch_pickle import load_torch_state_dict as load; "
        f"load({fixture('zip.bin')!r}); load({fixture('legacy.bin')!r}); assert 'torch' not in sys.modules"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
