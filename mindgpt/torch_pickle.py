"""Read a PyTorch `pytorch_model.bin` into numpy arrays, without torch and without running pickled code.

`torch.load` unpickles arbitrary objects, so a downloaded checkpoint can run any code it likes, and it needs
torch, which a MindSpore install lacks. A state dict only needs a handful of globals (OrderedDict, the tensor
rebuild helpers, storage classes, dtypes), so we unpickle with an allowlist of exactly those, map them to inert
stand-ins, and rebuild every tensor from its storage bytes with numpy. Both formats `torch.save` writes are read:
the zip archive (torch >= 1.6) and the legacy stream (torch < 1.6, e.g. the 2019 `openai-gpt` checkpoint).
"""
from __future__ import annotations

import collections
import dataclasses
import io
import os
import pickle
import struct
import zipfile
import zlib
from typing import IO, Any

import numpy as np

# torch dtype name -> numpy dtype of its bytes on disk. numpy has no bfloat16: it is read as raw uint16 bits
# and widened (exactly) to float32 at the end.
_DTYPES = {
    "float64": "f8", "float32": "f4", "float16": "f2", "bfloat16": "u2",
    "int64": "i8", "int32": "i4", "int16": "i2", "int8": "i1",
    "uint64": "u8", "uint32": "u4", "uint16": "u2", "uint8": "u1", "bool": "?",
    "complex64": "c8", "complex128": "c16",
}
# The typed storage classes torch pickles for tensors of the classic dtypes -> their torch dtype name.
_STORAGES = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16",
    "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool",
    "ComplexFloatStorage": "complex64", "ComplexDoubleStorage": "complex128",
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # the first pickle of a legacy (non-zip) torch.save stream
_LEGACY_PROTOCOL = 1001


class _Refused(ValueError):
    """A deliberate refusal whose message already says what to do (unlike errors from corrupt bytes)."""


@dataclasses.dataclass(frozen=True)
class _DType:
    """Stand-in for a torch dtype or storage class: the name of its element type."""

    name: str


@dataclasses.dataclass(frozen=True)
class _StorageRef:
    """Stand-in for a storage: its key in the file and how many elements of which dtype it holds."""

    key: str
    dtype: str
    numel: int


@dataclasses.dataclass(frozen=True)
class _TensorRef:
    """Stand-in for a tensor: a strided view of a storage, built into an array once the storages are read."""

    storage: _StorageRef
    dtype: str
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(
    storage: _StorageRef, storage_offset: int, size: tuple[int, ...], stride: tuple[int, ...],
    requires_grad: bool, backward_hooks: Any, metadata: Any = None,
) -> _TensorRef:
    """What torch pickles for a tensor whose storage is typed (every classic dtype)."""
    return _TensorRef(storage, storage.dtype, storage_offset, tuple(size), tuple(stride))


def _rebuild_tensor_v3(
    storage: _StorageRef, storage_offset: int, size: tuple[int, ...], stride: tuple[int, ...],
    requires_grad: bool, backward_hooks: Any, dtype: _DType, metadata: Any = None,
) -> _TensorRef:
    """What torch 2.x pickles for dtypes without a typed storage (uint16...): untyped bytes plus a dtype."""
    return _TensorRef(storage, dtype.name, storage_offset, tuple(size), tuple(stride))


def _rebuild_parameter(data: _TensorRef, requires_grad: bool, backward_hooks: Any, state: Any = None) -> _TensorRef:
    """An nn.Parameter is its tensor; gradients, hooks and extra state do not matter for weights."""
    return data


_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "UntypedStorage"): _DType("uint8"),
    **{("torch", name): _DType(dtype) for name, dtype in _STORAGES.items()},
    **{("torch", dtype): _DType(dtype) for dtype in _DTYPES},
}


class _Unpickler(pickle.Unpickler):
    """Resolves only `_GLOBALS`, so nothing in the file can be called but inert stand-ins."""

    def __init__(self, file: IO[bytes]) -> None:
        super().__init__(file)
        self.storages: dict[str, _StorageRef] = {}

    def load(self) -> Any:
        try:
            return super().load()
        except MemoryError as exc:
            # A state dict's pickle is small (tensor bytes live outside it): this is a corrupt length field.
            raise ValueError("a pickle opcode claims an impossibly long object") from exc

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _GLOBALS:
            raise _Refused(
                f"refusing to load global {module}.{name}: a state dict holds only tensors of plain dtypes, so "
                "this file is something else and unpickling it could run code. If you trust it, load it with "
                "torch and re-save just the state dict (torch.save(model.state_dict(), path))."
            )
        return _GLOBALS[module, name]

    def persistent_load(self, pid: Any) -> _StorageRef:
        typename, dtype, key, _location, numel, *view_metadata = pid  # view_metadata: legacy format only
        if typename != "storage" or not isinstance(dtype, _DType):
            raise ValueError(f"unknown persistent id {pid!r}")
        if view_metadata and view_metadata[0] is not None:
            raise _Refused("storage views (torch < 0.4) are not supported: re-save the checkpoint with a newer torch")
        return self.storages.setdefault(str(key), _StorageRef(str(key), dtype.name, int(numel)))


def _read_zip(f: IO[bytes]) -> tuple[Any, dict[str, bytes], str]:
    """Return (unpickled object, storage bytes by key, byte order) of a torch >= 1.6 zip checkpoint."""
    with zipfile.ZipFile(f) as zf:
        names = set(zf.namelist())
        # zipfile would seek to a corrupt negative offset and raise a bare OSError(EINVAL).
        if any(info.header_offset < 0 for info in zf.infolist()):
            raise ValueError("the zip directory points before the start of the file")
        pickles = sorted(n for n in names if n.count("/") == 1 and n.endswith("/data.pkl"))
        if len(pickles) != 1:
            raise ValueError(f"expected one <archive>/data.pkl entry, found {pickles}")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = zf.read(prefix + "byteorder").decode() if prefix + "byteorder" in names else "little"
        if byteorder not in ("little", "big"):
            raise ValueError(f"byteorder record is {byteorder!r}, expected 'little' or 'big'")
        unpickler = _Unpickler(io.BytesIO(zf.read(pickles[0])))
        obj = unpickler.load()
        storages = {key: zf.read(f"{prefix}data/{key}") for key in unpickler.storages}
    for key, ref in unpickler.storages.items():
        _check_length(ref, len(storages[key]))
    return obj, storages, byteorder


def _read_legacy(f: IO[bytes]) -> tuple[Any, dict[str, bytes], str]:
    """Return the same as `_read_zip` for a legacy stream: header pickles, data pickle, storage keys, then
    each storage as an int64 element count and its bytes, all little-endian (as torch writes them on any host)."""
    if _Unpickler(f).load() != _LEGACY_MAGIC:
        raise ValueError("neither a zip archive nor a legacy torch.save stream (bad magic number)")
    if (protocol := _Unpickler(f).load()) != _LEGACY_PROTOCOL:
        raise ValueError(f"legacy protocol version is {protocol!r}, expected {_LEGACY_PROTOCOL}")
    _Unpickler(f).load()  # sys_info: sizes of C types, irrelevant to the fixed-size dtypes read here
    unpickler = _Unpickler(f)
    obj = unpickler.load()
    storages = {}
    for key in _Unpickler(f).load():
        ref = unpickler.storages[key]
        (numel,) = struct.unpack("<q", _read_exact(f, 8))
        if numel != ref.numel:
            raise ValueError(f"storage {key} holds {numel} elements, the pickle says {ref.numel}")
        storages[key] = _read_exact(f, numel * np.dtype(_DTYPES[ref.dtype]).itemsize)
    return obj, storages, "little"


def _read_exact(f: IO[bytes], n: int) -> bytes:
    """Read n bytes; a corrupt count past the end of the file fails before that much memory is allocated."""
    if not 0 <= n <= os.fstat(f.fileno()).st_size - f.tell():
        raise ValueError(f"need {n} bytes at offset {f.tell()}, past the end of the file")
    return f.read(n)


def _check_length(ref: _StorageRef, nbytes: int) -> None:
    """torch writes exactly numel * itemsize bytes per storage; any other length is damage."""
    expected = ref.numel * np.dtype(_DTYPES[ref.dtype]).itemsize
    if nbytes != expected:
        raise ValueError(f"storage {ref.key} has {nbytes} bytes, expected {expected} ({ref.numel} x {ref.dtype})")


def _state_dict(obj: Any) -> dict[str, _TensorRef]:
    """The {name: tensor} mapping: the object itself, or one wrapped as {"state_dict": ...} or {"model": ...}."""
    if isinstance(obj, dict):
        obj = next((obj[k] for k in ("state_dict", "model") if isinstance(obj.get(k), dict)), obj)
    if not isinstance(obj, dict):
        raise _Refused(f"holds a {type(obj).__name__}, expected a state dict (a dict of tensors)")
    for name, value in obj.items():
        if not isinstance(name, str) or not isinstance(value, _TensorRef):
            raise _Refused(f"entry {name!r} is a {type(value).__name__}; only {{name: tensor}} state dicts load")
    return obj


def _to_array(t: _TensorRef, data: bytes, byteorder: str) -> np.ndarray:
    """Copy the tensor's strided view of its storage into a contiguous, native-endian array."""
    raw = np.dtype(_DTYPES[t.dtype]).newbyteorder("<" if byteorder == "little" else ">")
    storage = np.frombuffer(data, dtype=raw, count=len(data) // raw.itemsize)
    if len(t.size) != len(t.stride) or min((t.offset, *t.size, *t.stride)) < 0:
        raise ValueError(f"bad tensor layout: offset {t.offset}, size {t.size}, stride {t.stride}")
    if 0 in t.size:
        array = np.empty(t.size, dtype=raw.newbyteorder("="))
    else:
        # as_strided does no bounds checking: a corrupt layout must fail here, not read past the buffer.
        last = t.offset + sum((n - 1) * s for n, s in zip(t.size, t.stride))
        if last >= len(storage):
            raise ValueError(f"tensor reaches element {last} of a storage of {len(storage)} {t.dtype}")
        view = np.lib.stride_tricks.as_strided(
            storage[t.offset:], shape=t.size, strides=[s * raw.itemsize for s in t.stride]
        )
        array = np.array(view, dtype=raw.newbyteorder("="), order="C")
    return (array.astype(np.uint32) << 16).view(np.float32) if t.dtype == "bfloat16" else array


# What damaged bytes raise from zipfile (RuntimeError: a flipped "encrypted" flag; NotImplementedError: a
# flipped compression method or version), pickle and numpy: all mean the file is not what torch wrote.
_CORRUPTION = (
    zipfile.BadZipFile, zlib.error, pickle.UnpicklingError, EOFError, struct.error, KeyError, IndexError,
    TypeError, AttributeError, ValueError, OverflowError, NotImplementedError, RuntimeError,
)


def load_torch_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load a `torch.save(state_dict)` file as {name: array}; bfloat16 becomes float32, other dtypes keep theirs.

    Raises FileNotFoundError for a missing file and ValueError for a file that is corrupt, truncated, or
    holds anything besides tensors (whatever it references is refused, never called).
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            is_zip = f.read(4) == b"PK\x03\x04"
            f.seek(0)
            obj, storages, byteorder = _read_zip(f) if is_zip else _read_legacy(f)
        tensors = _state_dict(obj)
        return {name: _to_array(t, storages[t.storage.key], byteorder) for name, t in tensors.items()}
    except _Refused as exc:
        raise ValueError(f"{path}: {exc}") from None
    except _CORRUPTION as exc:
        raise ValueError(
            f"{path}: cannot read this PyTorch checkpoint (truncated or corrupt?): {type(exc).__name__}: {exc}. "
            "Re-download or re-save it."
        ) from exc
