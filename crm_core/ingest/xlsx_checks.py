"""Checks on an .xlsx before the native reader opens it.

The Excel reader (calamine) trusts the workbook: it inflates every part as
far as the compressed stream goes, whatever size the zip declares, and sizes
a sheet's table from its farthest cell (one value in cell XFD1048576 asks for a
17-billion-cell rectangle and aborts the process). Here every member is
inflated once, from its local header to the end of its compressed stream,
counting the bytes that actually come out (per member: a padding member
cannot dilute a bomb's ratio), and the sheets' XML is scanned on the way for
the cells' extent. The range a sheet claims (``<dimension ref=...>``) is not
used by the reader to allocate, so a false claim is harmless and not refused. The number of texts the shared
strings table claims (``uniqueCount``) is: a claim its bytes cannot hold is refused.
Anything beyond the limits raises :class:`IngestError`.
"""
from __future__ import annotations

import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from crm_core.ingest.errors import IngestError
from crm_core.ingest.messages import quoted

_CHUNK = 1024**2
_OVERLAP = 64  # bytes kept between chunks, so a tag cut in two is still seen
_LOCAL_HEADER = struct.Struct("<4s22xHH")
#: The row and the column of a position attribute (``r="XFD1048576"`` of a cell, ``r="12"`` of a row).
_POSITION_ROW = re.compile(rb"""\sr=["'][A-Za-z]{0,4}(\d{1,9})["']""")
_POSITION_COLUMN = re.compile(rb"""\sr=["']([A-Za-z]{1,4})\d""")
#: The count of distinct texts a shared-strings table claims; each takes at least ``<si/>`` (5 bytes).
_UNIQUE_COUNT = re.compile(rb"""<(?:\w+:)?sst\b[^<>]{0,4096}?\suniqueCount=["'](\d{1,20})["']""")
_SMALLEST_STRING = 5
#: A merged range (``<mergeCell ref="A2:A4"/>``): its first and last rows and the whole reference.
_MERGED = re.compile(rb"""<(?:\w+:)?mergeCell\s+ref=["']([A-Z]{1,3}(\d{1,7}):[A-Z]{1,3}(\d{1,7}))["']""")
DAMAGED = "The Excel file is damaged. Open it in Excel and save it again (or export the data as CSV)."


@dataclass(frozen=True)
class Limits:
    """Absolute caps (bytes, cells, columns) and the largest expansion ratio of one member."""

    part_bytes: int
    total_bytes: int
    ratio: int
    ratio_free: int
    cells: int
    columns: int


@dataclass
class _Extent:
    """The rows and columns a sheet's cells span (the reader allocates that rectangle)."""

    rows: int = 0
    columns: int = 0
    merged: int = 0  # merged ranges spanning more than one row
    first_merged: str = ""


def check_workbook(path: Path, members: list[zipfile.ZipInfo], limits: Limits) -> dict[str, tuple[int, str]]:
    """Inflate every member of the workbook at ``path``, counting bytes; check each sheet's extent.

    Returns the sheets (their parts, ``xl/worksheets/sheet2.xml``) with cells merged over several rows: how many
    ranges and the first (``A2:A4``), seen on the way."""
    total = 0
    merged: dict[str, tuple[int, str]] = {}
    with path.open("rb") as raw:
        for member in members:
            if member.is_dir():
                continue
            sheet = member.filename.startswith("xl/worksheets/") and member.filename.endswith(".xml")
            strings = member.filename.lower() == "xl/sharedstrings.xml"
            extent = _Extent()
            claims: list[int] = []
            scan = _sheet_scanner(extent) if sheet else _strings_scanner(claims) if strings else None
            expanded = _inflate(raw, member, limits, scan)
            total += expanded
            if total > limits.total_bytes:
                raise IngestError(_too_large("The workbook", limits.total_bytes))
            if sheet:
                _check_extent(member.filename, extent, limits)
                if extent.merged:
                    merged[member.filename] = (extent.merged, extent.first_merged)
            if claims and claims[0] > expanded // _SMALLEST_STRING + 1:
                raise IngestError(
                    f"The Excel file's table of texts claims {claims[0]:,} texts in {expanded:,} bytes, which cannot be "
                    "(it is damaged or crafted). Open it in Excel and save it again, or export the data as CSV."
                )

    return merged


def _inflate(raw, member: zipfile.ZipInfo, limits: Limits, scan: Callable[[bytes], None] | None) -> int:
    """Bytes that come out of ``member``'s compressed stream (read to its end, not to the declared size)."""
    raw.seek(member.header_offset)
    header = raw.read(_LOCAL_HEADER.size)
    if len(header) < _LOCAL_HEADER.size or not header.startswith(b"PK\x03\x04"):
        raise IngestError(DAMAGED)
    _, name_length, extra_length = _LOCAL_HEADER.unpack(header)
    raw.seek(member.header_offset + _LOCAL_HEADER.size + name_length + extra_length)
    if member.compress_type == zipfile.ZIP_STORED:
        return _stored(raw, member, limits, scan)
    if member.compress_type != zipfile.ZIP_DEFLATED:
        raise IngestError("The Excel file uses an unusual compression. Open it in Excel and save it again as .xlsx.")
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    consumed = expanded = 0
    tail = b""
    try:
        while not inflater.eof:
            data = raw.read(_CHUNK)
            if not data:
                break  # the stream is cut short: the reader will say the file is damaged
            while data and not inflater.eof:
                piece = inflater.decompress(data, _CHUNK)
                # only what the stream used: the bytes after it belong to the next member
                consumed += len(data) - len(inflater.unconsumed_tail) - len(inflater.unused_data)
                data = inflater.unconsumed_tail
                expanded += len(piece)
                _check_member(member, consumed, expanded, limits)
                if scan and piece:
                    scan(tail + piece)
                    tail = piece[-_OVERLAP:]
    except zlib.error as error:
        raise IngestError(DAMAGED) from error
    return expanded


def _stored(raw, member: zipfile.ZipInfo, limits: Limits, scan: Callable[[bytes], None] | None) -> int:
    """An uncompressed member: its bytes are in the file, so its declared size is bounded by the file."""
    left = member.compress_size
    _check_member(member, left, left, limits)
    tail = b""
    while left > 0 and scan:
        piece = raw.read(min(_CHUNK, left))
        if not piece:
            break
        left -= len(piece)
        scan(tail + piece)
        tail = piece[-_OVERLAP:]
    return member.compress_size


def _check_member(member: zipfile.ZipInfo, consumed: int, expanded: int, limits: Limits) -> None:
    part = f"Part {quoted(member.filename)} of the Excel file"
    if expanded > limits.part_bytes:
        raise IngestError(_too_large(part, limits.part_bytes))
    if expanded > limits.ratio_free and expanded > limits.ratio * max(consumed, 1):
        raise IngestError(
            f"{part} expands to more than {limits.ratio} times its size, which real workbooks never do "
            "(it may be a 'zip bomb' or damaged). Open it in Excel and save it as CSV."
        )


def _too_large(what: str, limit: int) -> str:
    return f"{what} expands to more than {limit / 1024**2:,.0f} MB, too large to open. Export a shorter period or fewer columns."


def _sheet_scanner(extent: _Extent) -> Callable[[bytes], None]:
    def scan(chunk: bytes) -> None:
        rows = _POSITION_ROW.findall(chunk)
        if rows:
            extent.rows = max(extent.rows, max(map(int, rows)))
        columns = set(_POSITION_COLUMN.findall(chunk))
        if columns:
            widest = max(columns, key=lambda column: (len(column), column.upper()))
            extent.columns = max(extent.columns, _column_number(widest))
        if b"mergeCell" in chunk:
            for found in _MERGED.finditer(chunk):
                # a tag ending within the first _OVERLAP bytes was in the chunk before (they are its tail)
                if found.end() > _OVERLAP and found.group(2) != found.group(3):
                    extent.merged += 1
                    extent.first_merged = extent.first_merged or found.group(1).decode()

    return scan


def _strings_scanner(claims: list[int]) -> Callable[[bytes], None]:
    """Reads the number of texts the shared-strings table claims (``<sst uniqueCount="N">``) from its first chunk:
    the reader reserves room for that many before reading one (2^31 claimed in a 1 KB part took gigabytes)."""
    def scan(chunk: bytes) -> None:
        if not claims:
            found = _UNIQUE_COUNT.search(chunk)
            claims.append(int(found.group(1)) if found else 0)

    return scan


def _column_number(letters: bytes) -> int:
    """``A`` -> 1, ``Z`` -> 26, ``AA`` -> 27, ``XFD`` -> 16384."""
    number = 0
    for letter in letters.upper():
        number = number * 26 + letter - 64
    return number


def _check_extent(name: str, extent: _Extent, limits: Limits) -> None:
    if extent.columns > limits.columns or extent.rows * extent.columns > limits.cells:
        raise IngestError(
            f"Sheet {quoted(Path(name).stem)} has cells spanning {extent.rows:,} rows x {extent.columns:,} columns, "
            "more than can be read. Copy only the data into a new workbook, or save it as CSV."
        )
