"""The legacy .pth reader (utils.models.torch_weights) on files the tests build: good ones load, hostile or
damaged ones are refused with a ValueError naming the file, and no pickle in them runs code.

torch is not installed, so the files are written with stand-ins registered as ``torch`` and
``torch._utils`` in ``sys.modules`` only while pickling (see :func:`_fake_torch`).
"""
from __future__ import annotations

import collections
import contextlib
import os
import pickle
import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from utils.models.torch_weights import load_legacy_state_dict

MAGIC, PROTOCOL = 0x1950A86A20F9469CFC6C, 1001
SYS_INFO = {"protocol_version": PROTOCOL, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}


class _Storage:
    """A storage to write: its key, element count and bytes."""

    def __init__(self, key: str, values: np.ndarray):
        self.key, self.values = key, np.ascontiguousarray(values, np.float32).ravel()


class _Tensor:
    """A view to write: ``_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())``."""

    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return sys.modules["torch._utils"]._rebuild_tensor_v2, self.args


@contextlib.contextmanager
def _fake_torch():
    """``torch.FloatStorage`` and ``torch._utils._rebuild_tensor_v2`` as picklable globals, for a moment."""
    saved = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
    storage_type = type("FloatStorage", (), {"__module__": "torch"})

    def _rebuild_tensor_v2(*args):  # never called: only its name is written
        raise AssertionError

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    torch.FloatStorage, torch._utils, utils._rebuild_tensor_v2 = storage_type, utils, _rebuild_tensor_v2
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        yield storage_type
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


class _Pickler(pickle.Pickler):
    def __init__(self, file, storage_type, numel: dict[str, int]):
        super().__init__(file, protocol=2)
        self.storage_type, self.numel = storage_type, numel

    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return ("storage", self.storage_type, obj.key, "cpu", self.numel.get(obj.key, obj.values.size), None)
        return None


def legacy_file(path: Path, state, storages: list[_Storage], *, pickles: dict[int, bytes] | None = None,
                keys=None, numel: dict[str, int] | None = None, data_numel: dict[str, int] | None = None,
                truncate: int = 0) -> Path:
    """Write a legacy-format file. ``pickles`` replaces pickle number 0-4 (magic, protocol, system
    info, state dict, keys) by raw bytes; ``numel``/``data_numel`` lie about a storage's size in the
    state dict / before its data; ``truncate`` cuts that many bytes off the end."""
    import io

    parts = [pickle.dumps(MAGIC, protocol=2), pickle.dumps(PROTOCOL, protocol=2), pickle.dumps(SYS_INFO, protocol=2)]
    with _fake_torch() as storage_type:
        buffer = io.BytesIO()
        _Pickler(buffer, storage_type, numel or {}).dump(state)
    parts.append(buffer.getvalue())
    parts.append(pickle.dumps([s.key for s in storages] if keys is None else keys, protocol=2))
    for index, raw in (pickles or {}).items():
        parts[index] = raw
    body = b"".join(parts)
    for s in storages:
        body += struct.pack("<q", (data_numel or {}).get(s.key, s.values.size)) + s.values.tobytes()
    path.write_bytes(body[:len(body) - truncate] if truncate else body)
    return path


def _good(tmp_path: Path, name: str = "good.pth") -> tuple[Path, np.ndarray]:
    values = np.arange(12, dtype=np.float32)
    s = _Storage("0", values)
    state = collections.OrderedDict([("conv.weight", _Tensor(s, 0, (3, 4), (4, 1))),
                                     ("conv.weight_t", _Tensor(s, 0, (4, 3), (1, 4))),  # a transposed view
                                     ("bias", _Tensor(s, 8, (4,), (1,))),
                                     ("empty", _Tensor(s, 0, (0, 5), (5, 1)))])
    return legacy_file(tmp_path / name, state, [s]), values


class _RunsCode:
    """Unpickling this would run a shell command that leaves a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_well_formed_file_loads_with_strided_views(tmp_path):
    path, values = _good(tmp_path)
    state = load_legacy_state_dict(path)
    assert list(state) == ["conv.weight", "conv.weight_t", "bias", "empty"]
    np.testing.assert_array_equal(state["conv.weight"], values.reshape(3, 4))
    np.testing.assert_array_equal(state["conv.weight_t"], values.reshape(3, 4).T)
    np.testing.assert_array_equal(state["bias"], values[8:])
    assert state["empty"].shape == (0, 5) and state["conv.weight"].flags.writeable


@pytest.mark.parametrize("position", [0, 1, 2, 3, 4], ids=["magic", "protocol", "sys-info", "state-dict", "keys"])
def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path, position):
    marker = tmp_path / "code-ran"
    _, values = _good(tmp_path)
    s = _Storage("0", values)
    state = collections.OrderedDict([("w", _Tensor(s, 0, (12,), (1,)))])
    path = legacy_file(tmp_path / "hostile.pth", state, [s],
                       pickles={position: pickle.dumps(_RunsCode(marker), protocol=2)})
    with pytest.raises(ValueError, match="posix.system|os.system") as info:
        load_legacy_state_dict(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists(), "the pickle's code ran"


def test_code_hidden_inside_a_tensor_argument_is_refused(tmp_path):
    marker = tmp_path / "code-ran"
    s = _Storage("0", np.zeros(4))
    tensor = _Tensor(s, 0, (4,), (1,))
    tensor.args = (s, 0, (4,), (1,), False, _RunsCode(marker))
    path = legacy_file(tmp_path / "hidden.pth", {"w": tensor}, [s])
    with pytest.raises(ValueError, match="system"):
        load_legacy_state_dict(path)
    assert not marker.exists()


@pytest.mark.parametrize("offset, size, stride, numel", [
    (0, (10,), (1,), None),             # longer than its 4-element storage
    (3, (2,), (1,), None),              # starts inside, ends past the end
    (4, (1,), (1,), None),              # starts past the end
    (0, (2, 2), (1, 4), None),          # a stride that jumps past the end
    (0, (10**6,), (0,), None),          # a million copies of one element (stride 0)
    (0, (4,), (1,), {"0": 10**12}),     # the state dict claims a huge storage; the data says 4
], ids=["too-long", "ends-past", "starts-past", "stride-past", "stride-zero-bomb", "numel-lie"])
def test_a_view_outside_its_storage_is_refused_before_numpy_reads_memory(tmp_path, offset, size, stride, numel):
    s = _Storage("0", np.arange(4))
    path = legacy_file(tmp_path / "view.pth", {"w": _Tensor(s, offset, size, stride)}, [s], numel=numel)
    with pytest.raises(ValueError) as info:
        load_legacy_state_dict(path)
    assert str(path) in str(info.value)
    assert any(w in str(info.value) for w in ("reaches past", "holds 4 elements")), info.value


@pytest.mark.parametrize("size, stride", [((-1,), (1,)), ((2,), (-1,)), ((2,), (1, 1)), ("ab", (1,)), ((2.5,), (1,))])
def test_malformed_sizes_and_strides_are_refused(tmp_path, size, stride):
    s = _Storage("0", np.arange(4))
    path = legacy_file(tmp_path / "bad.pth", {"w": _Tensor(s, 0, size, stride)}, [s])
    with pytest.raises(ValueError, match="not a valid PyTorch"):
        load_legacy_state_dict(path)


def _damage(tmp_path: Path, case: str) -> Path:
    s = _Storage("0", np.arange(6))
    state = {"w": _Tensor(s, 0, (6,), (1,))}
    path = tmp_path / f"{case}.pth"
    if case == "truncated":
        return legacy_file(path, state, [s], truncate=5)
    if case == "huge-data-header":
        return legacy_file(path, state, [s], data_numel={"0": 2**40})
    if case == "keys-mismatch":
        return legacy_file(path, state, [s], keys=["0", "1"])
    if case == "keys-not-a-list":
        return legacy_file(path, state, [s], keys="0")
    if case == "not-a-state-dict":
        return legacy_file(path, [1, 2, 3], [], keys=[])
    if case == "big-endian":
        return legacy_file(path, state, [s], pickles={2: pickle.dumps(dict(SYS_INFO, little_endian=False))})
    if case == "wrong-magic":
        return legacy_file(path, state, [s], pickles={0: pickle.dumps(123)})
    if case == "bad-persistent-id":
        raw = legacy_file(tmp_path / "tmp.pth", state, [s]).read_bytes()
        raw = raw.replace(b"X\x03\x00\x00\x00cpu", b"X\x03\x00\x00\x00gpu")
        path.write_bytes(raw.replace(b"storage", b"storagX"))
        return path
    if case == "zip-format":
        path.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "garbage":
        path.write_bytes(os.urandom(64))
    elif case == "ext-opcode":
        path.write_bytes(b"\x80\x02\x82\x01.")  # EXT1 code 1: a copyreg extension (none registered)
    return path  # "missing": never written


DAMAGED = {"truncated": "truncated", "huge-data-header": "holds", "keys-mismatch": "do not match",
           "keys-not-a-list": "malformed", "not-a-state-dict": "state dict", "big-endian": "big-endian",
           "wrong-magic": "magic number", "bad-persistent-id": "persistent id", "zip-format": "zip-format",
           "empty": "magic number", "garbage": "", "ext-opcode": "", "missing": "cannot read"}


@pytest.mark.parametrize("case", list(DAMAGED))
def test_a_damaged_file_gives_one_line_naming_the_file(tmp_path, case):
    path = _damage(tmp_path, case)
    with pytest.raises(ValueError) as info:
        load_legacy_state_dict(path)
    message = str(info.value)
    assert str(path) in message and DAMAGED[case] in message and "\n" not in message, message
