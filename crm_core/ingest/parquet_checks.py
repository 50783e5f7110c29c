"""Checks on a Parquet file's metadata before the native reader opens it.

The Parquet reader allocates what the file claims: a page header saying a
page holds 2 GB makes it reserve 2 GB, whatever the page really holds. Here
the footer (row groups, column chunks) and every page header are decoded
(Thrift compact protocol, a small decoder below) and checked against the file
size and absolute caps before any data is read: claimed sizes must fit in the
file, decompressed sizes must stay under the caps and a plausible ratio, and
row counts must agree. Anything off raises :class:`IngestError`.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from crm_core.ingest.errors import IngestError

DAMAGED = "The Parquet file is damaged (its layout does not add up). Export it again, or export the data as CSV."
_MAX_FOOTER = 64 * 1024**2
_MAX_PAGE_HEADER = 64 * 1024
_MAX_PAGES = 1_000_000
_MAX_DEPTH = 32


@dataclass(frozen=True)
class Limits:
    rows: int
    bytes: int
    ratio: int
    ratio_free: int
    columns: int


class _Damaged(Exception):
    pass


def check_parquet(path: Path, limits: Limits) -> None:
    """Check the footer and the page headers of the Parquet file at ``path``."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            meta = _footer(handle, size)
            _check_file(handle, size, meta, limits)
    except _Damaged as error:
        raise IngestError(DAMAGED) from error


def _footer(handle: BinaryIO, size: int) -> dict[int, Any]:
    if size < 12:
        raise _Damaged()
    handle.seek(size - 8)
    length, magic = struct.unpack("<I4s", handle.read(8))
    if magic != b"PAR1" or length > min(size - 12, _MAX_FOOTER):
        raise _Damaged()
    handle.seek(size - 8 - length)
    return _Reader(handle.read(length)).struct()


def _check_file(handle: BinaryIO, size: int, meta: dict[int, Any], limits: Limits) -> None:
    rows = _int(meta.get(3, 0))
    if rows < 0:
        raise _Damaged()
    if rows > limits.rows:
        raise IngestError(f"The Parquet file claims {rows:,} rows; at most {limits.rows:,} can be read. Export a shorter period.")
    groups = meta.get(4) or []
    if sum(_int(group.get(3, 0)) for group in groups) != rows:
        raise _Damaged()
    expanded = 0
    pages = [0]
    for group in groups:
        chunks = group.get(1) or []
        if len(chunks) > max(limits.columns, 1) * 64:
            raise IngestError(f"The Parquet file has {len(chunks):,} columns; at most {limits.columns} are supported.")
        for chunk in chunks:
            column = chunk.get(3)
            if not isinstance(column, dict):
                raise _Damaged()
            expanded += _check_chunk(handle, size, column, _int(group.get(3, 0)), limits, pages)
            if expanded > limits.bytes:
                raise IngestError(
                    f"The Parquet file decompresses to more than {limits.bytes / 1024**3:.1f} GB, too large to open. "
                    "Export a shorter period or fewer columns."
                )


def _check_chunk(handle: BinaryIO, size: int, column: dict[int, Any], rows: int, limits: Limits, pages: list[int]) -> int:
    """Check one column chunk and its page headers; its decompressed size."""
    values = _int(column.get(5, 0))
    uncompressed, compressed = _int(column.get(6, 0)), _int(column.get(7, 0))
    offsets = [_int(column[key]) for key in (9, 11) if key in column and _int(column[key]) > 0]
    start = min(offsets, default=-1)
    if values < 0 or uncompressed < 0 or compressed < 0 or start < 4 or start + compressed > size:
        raise _Damaged()
    _check_ratio(compressed, uncompressed, limits)
    if rows and values > rows * 1024:  # nested lists aside, a column has about one value per row
        raise _Damaged()
    end = start + compressed
    position = start
    while position < end:
        pages[0] += 1
        if pages[0] > _MAX_PAGES:
            raise _Damaged()
        handle.seek(position)
        reader = _Reader(handle.read(min(_MAX_PAGE_HEADER, end - position)))
        header = reader.struct()
        page_uncompressed, page_compressed = _int(header.get(2, -1)), _int(header.get(3, -1))
        if page_uncompressed < 0 or page_compressed < 0 or page_uncompressed > uncompressed:
            raise _Damaged()
        _check_ratio(page_compressed, page_uncompressed, limits)
        for data_header in (header.get(5), header.get(8), header.get(7)):
            if isinstance(data_header, dict) and not 0 <= _int(data_header.get(1, 0)) <= max(values, 0):
                raise _Damaged()
        position += reader.position + page_compressed
    if position != end:
        raise _Damaged()
    return uncompressed


def _check_ratio(compressed: int, uncompressed: int, limits: Limits) -> None:
    if uncompressed > limits.ratio_free and uncompressed > limits.ratio * max(compressed, 1):
        raise IngestError(
            f"A column of the Parquet file claims to expand more than {limits.ratio} times, which real files never do "
            "(it may be crafted or damaged). Export it again, or export the data as CSV."
        )


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Damaged()
    return value


class _Reader:
    """A Thrift compact-protocol decoder: structs become {field id: value}."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0
        self.depth = 0

    def byte(self) -> int:
        if self.position >= len(self.data):
            raise _Damaged()
        self.position += 1
        return self.data[self.position - 1]

    def varint(self) -> int:
        result = shift = 0
        while True:
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7
            if shift > 63:
                raise _Damaged()

    def zigzag(self) -> int:
        value = self.varint()
        return (value >> 1) ^ -(value & 1)

    def struct(self) -> dict[int, Any]:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _Damaged()
        fields: dict[int, Any] = {}
        last = 0
        while True:
            head = self.byte()
            if head == 0:
                self.depth -= 1
                return fields
            kind, delta = head & 0x0F, head >> 4
            last = last + delta if delta else self.zigzag()
            fields[last] = True if kind == 1 else False if kind == 2 else self.value(kind)

    def value(self, kind: int) -> Any:
        if kind in (1, 2):
            return self.byte() == 1
        if kind == 3:
            return self.byte()
        if kind in (4, 5, 6):
            return self.zigzag()
        if kind == 7:
            return self.take(8)
        if kind == 8:
            return self.take(self.varint())
        if kind in (9, 10):
            head = self.byte()
            count = head >> 4 if head >> 4 != 15 else self.varint()
            return [self.value(head & 0x0F) for _ in range(self._count(count))]
        if kind == 11:
            count = self._count(self.varint())
            types = self.byte() if count else 0
            return {self._key(self.value(types >> 4)): self.value(types & 0x0F) for _ in range(count)}
        if kind == 12:
            return self.struct()
        raise _Damaged()

    def take(self, length: int) -> bytes:
        if length < 0 or self.position + length > len(self.data):
            raise _Damaged()
        self.position += length
        return self.data[self.position - length : self.position]

    def _count(self, count: int) -> int:
        if count > len(self.data) - self.position:  # every element takes at least one byte
            raise _Damaged()
        return count

    @staticmethod
    def _key(value: Any) -> Any:
        return value if not isinstance(value, (dict, list)) else repr(value)
