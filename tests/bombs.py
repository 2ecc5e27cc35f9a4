"""Compression bombs for hostile-server tests: small bodies that decode to a gibibyte of zeros."""

from __future__ import annotations

import gzip
import struct
import zlib
from functools import cache

MIB = 1 << 20
GIB = 1 << 30


@cache
def gzip_of_zeros(size: int = GIB) -> bytes:
    """A valid gzip stream of ``size`` zero bytes (a multiple of 1 MiB), about 1 KB per MiB.

    Built from one deflate block repeated: after a full flush the compressor starts afresh, so
    every further MiB of zeros compresses to the same bytes. Takes ~0.3 s, not the ~5 s of
    compressing a gibibyte.
    """
    assert size % MIB == 0
    zeros = bytes(MIB)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    final = deflate.flush()  # the last (empty) block, flagged final
    crc = 0
    for _ in range(size // MIB):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return header + block * (size // MIB) + final + trailer


@cache
def gzip_of_gzip_of_zeros(size: int = GIB) -> bytes:
    """``Content-Encoding: gzip, gzip``: the gibibyte in under 2 KB."""
    return gzip.compress(gzip_of_zeros(size), 9)
