"""Image files the tests build: tiny on disk, hostile once decoded."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path


def png_header_only(path: Path, width: int, height: int, bit_depth: int = 1) -> Path:
    """A PNG whose header announces ``width`` x ``height`` pixels with (almost) no pixel data: a few
    hundred bytes on disk, huge once decoded. A safe loader refuses it from the header alone."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b""))
                     + chunk(b"IEND", b""))
    return path
