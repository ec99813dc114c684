"""Read a PyTorch legacy (non-zip) ``.pth`` state dict into numpy arrays, without torch.

The offline ImageNet classifier's weights ship as a PyTorch file (introduced in notebook 00).
Installing torch (several GB) just to read 18 MB of arrays would break the course's
"laptop, no GPU" promise, so this module understands the file format directly: a few
consecutive pickles (magic number, protocol, system info, the state dict with *persistent ids*
standing in for tensor storages, the list of storage keys) followed by each storage's raw bytes.
"""
from __future__ import annotations

import collections
import pickle
import struct
from pathlib import Path

import numpy as np

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageRef:
    """Placeholder for a tensor storage whose bytes come after the pickles."""

    def __init__(self, key: str, dtype: type, numel: int):
        self.key, self.dtype, self.numel = key, dtype, numel
        self.array: np.ndarray | None = None


class _LazyTensor:
    """A view (offset, shape, stride) into a storage, resolved once the bytes are read."""

    def __init__(self, storage: _StorageRef, offset: int, shape: tuple, stride: tuple):
        self.storage, self.offset, self.shape, self.stride = storage, offset, tuple(shape), tuple(stride)

    def resolve(self) -> np.ndarray:
        base = self.storage.array
        itemsize = base.itemsize
        return np.lib.stride_tricks.as_strided(
            base[self.offset:], shape=self.shape, strides=[s * itemsize for s in self.stride]
        ).copy()


def _rebuild_tensor(storage, storage_offset, size, stride, *args):
    return _LazyTensor(storage, storage_offset, size, stride)


class _StorageType:
    def __init__(self, name: str):
        self.name = name


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, storages: dict):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name.endswith("Storage"):
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a weights file")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, numel, _view = pid
        if kind != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id {kind!r}")
        if key not in self.storages:
            self.storages[key] = _StorageRef(key, _STORAGE_DTYPES[storage_type.name], numel)
        return self.storages[key]


def load_legacy_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Return ``{name: array}`` from a PyTorch legacy-format ``.pth`` state dict."""
    path = Path(path)
    with path.open("rb") as f:
        if pickle.load(f) != _LEGACY_MAGIC:
            raise ValueError(f"{path} is not a PyTorch legacy-format weights file")
        pickle.load(f)  # protocol version
        pickle.load(f)  # system info (endianness, type sizes)
        storages: dict[str, _StorageRef] = {}
        state = _Unpickler(f, storages).load()
        keys = pickle.load(f)
        for key in keys:
            ref = storages[key]
            (numel,) = struct.unpack("<q", f.read(8))
            ref.array = np.frombuffer(f.read(numel * np.dtype(ref.dtype).itemsize), dtype=ref.dtype)
    return collections.OrderedDict((k, v.resolve()) for k, v in state.items())
