"""Open a path, bytes or an upload as a raw table of source columns.

The raw table is lazy for CSV/TXT (``pl.scan_csv`` with every column as text),
so large files stream. Compressed files are expanded to a temporary file with
zip-bomb guards; non-UTF-8 text is transcoded to a temporary UTF-8 file in
chunks. Everything temporary lives in one folder removed when the
``open_table`` context ends, so callers collect inside the ``with`` block.
"""
from __future__ import annotations

import codecs
import contextlib
import re
import shutil
import tempfile
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Iterator, NamedTuple, Union

import polars as pl

from crm_core.ingest.errors import IngestError
from crm_core.ingest import prefetch, sniff

if TYPE_CHECKING:
    from crm_core.ingest import xlsx_checks

#: Largest size a compressed upload (and each member of a zip or xlsx) may expand to,
#: counted on the bytes actually inflated, never on the sizes the archive declares.
MAX_DECOMPRESSED_BYTES = 2 * 1024**3
#: Largest part of an .xlsx (a sheet's XML, the shared strings) once inflated.
MAX_XLSX_PART_BYTES = 1024**3
#: Largest expansion ratio of one member allowed once more than RATIO_FREE_BYTES came out.
MAX_COMPRESSION_RATIO = 100
RATIO_FREE_BYTES = 8 * 1024**2
#: Widest table accepted.
MAX_COLUMNS = 1000
#: Largest sheet area (rows x columns, as claimed by the sheet or spanned by its cells).
MAX_SHEET_CELLS = 30_000_000
#: Largest Parquet file accepted: rows, and bytes of its column chunks once decompressed.
MAX_PARQUET_ROWS = 500_000_000
MAX_PARQUET_BYTES = 2 * 1024**3
#: Parquet pages are encoded (dictionaries, run lengths) before compression, so their
#: ratio is lower than a raw text's; a higher ratio and free allowance are still absurd.
MAX_PARQUET_RATIO = 1000
PARQUET_RATIO_FREE_BYTES = 64 * 1024**2
#: Names the sandbox passes on to its worker (so a test or a deployment can lower them).
LIMITS = (
    "MAX_DECOMPRESSED_BYTES", "MAX_XLSX_PART_BYTES", "MAX_COMPRESSION_RATIO", "RATIO_FREE_BYTES", "MAX_COLUMNS",
    "MAX_SHEET_CELLS", "MAX_PARQUET_ROWS", "MAX_PARQUET_BYTES", "MAX_PARQUET_RATIO", "PARQUET_RATIO_FREE_BYTES",
)
SAMPLE_BYTES = 1024**2
SAMPLE_ROWS = 5000
LINE = "__line"
#: A delimited row's first field beyond the header's columns (null when it has none): such a row is rejected.
EXTRA = "__extra"
_ROW = "__row"
_TEXT = "__text"
_CHUNK = 4 * 1024**2

Source = Union[str, Path, bytes, bytearray, memoryview, IO[bytes]]

EMPTY_FILE = "The file is empty. Export the orders again and upload the new file."
BINARY_FILE = (
    "This file does not look like a table (it seems to be an image, a PDF or another binary file). "
    "Upload a CSV, Excel (.xlsx) or Parquet export."
)
JSON_FILE = "This file is JSON, not a table of orders. Export the orders as CSV, Excel (.xlsx) or Parquet and upload that."
#: How a JSON document or JSON lines start (an array of objects or arrays, or an object with a quoted key): no CSV does.
_JSON_START = re.compile(r"\[\s*[\[{\"]|\{\s*\"")


@dataclass
class RawTable:
    """Source columns of one table, before mapping.

    Attributes
    ----------
    frame
        The source columns (text for CSV/Excel, native types for Parquet)
        plus ``__line``: the row's line number (header = line 1).
    columns
        Source column names in file order.
    sample
        The first rows, every column as text (for sniffing values).
    complete
        True when ``sample`` holds every row of the table.
    detected
        What was found out: format, encoding, delimiter, header, sheet, ...
    raw_text
        Given line numbers, returns a frame (``__line``, ``raw``) with the
        row's text (fields joined by the delimiter, quoted where needed).
    typed
        For delimited text only: the same table (without ``__line``) with
        some columns parsed by the CSV reader itself (``{column: pl.Float64 or
        pl.Date}``), strictly: collecting raises if any value does not fit or
        the text is not valid UTF-8, and the caller falls back to the text
        columns. A fast path.
    unnumbered, first_line
        ``frame`` without ``__line``, and the line number of its first row.
    cell_dates
        For workbooks only: given a column, its cells read as the workbook types them, as dates (number and
        date cells; text and blank cells null), row for row with ``frame``. Read again from the workbook when
        asked: only for a date column that mixes typed and text cells.
    """

    frame: pl.LazyFrame
    columns: list[str]
    sample: pl.DataFrame
    complete: bool
    detected: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    raw_text: Callable[[pl.Series], pl.DataFrame] | None = None
    typed: Callable[[dict[str, pl.DataType]], pl.LazyFrame] | None = None
    unnumbered: pl.LazyFrame | None = None
    first_line: int = 2
    #: Size in bytes of the delimited text read (0 for other formats): large ones are read in batches.
    text_bytes: int = 0
    cell_dates: Callable[[str], pl.Series] | None = None

    def rows(self) -> pl.LazyFrame:
        """The source columns without ``__line`` (numbering rows costs the CSV reader
        a quarter of its time; row order is kept, so it is added after collecting)."""
        return self.unnumbered if self.unnumbered is not None else self.frame.drop(LINE)


@contextlib.contextmanager
def open_table(
    source: Source,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    has_header: bool | None = None,
    sheet: str | None = None,
    filename: str | None = None,
    sheet_score: Callable[[list[str]], int] | None = None,
    quote: bool = True,
) -> Iterator[RawTable]:
    """Open ``source`` as a :class:`RawTable` (temporary files removed on exit).

    ``quote=False`` reads ``"`` as an ordinary character (for files whose
    quotes are unbalanced, e.g. ``12" vinyl``).
    """
    staging = _Staging()
    try:
        path, name = _materialise(source, filename, staging)
        settings = _Settings(encoding, delimiter, has_header, sheet, sheet_score, quote)
        yield _open_path(path, name, settings, staging, {}, depth=0)
    finally:
        staging.remove()


class _Settings(NamedTuple):
    encoding: str | None
    delimiter: str | None
    has_header: bool | None
    sheet: str | None
    sheet_score: Callable[[list[str]], int] | None
    quote: bool = True


class _Staging:
    """Numbered temporary files in one folder, made on the first file (most reads of a local
    UTF-8 file need none) and removed with its files by :meth:`remove`."""

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.count = 0

    def new(self, suffix: str = "") -> Path:
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="crm_ingest_"))
        self.count += 1
        return self.folder / f"part{self.count}{suffix}"

    def remove(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def _materialise(source: Source, filename: str | None, staging: _Staging) -> tuple[Path, str]:
    """A local file holding the source's bytes, and the best name known for it."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise IngestError(f"File not found: {path}. Check the path and try again.")
        return path, filename or path.name
    name = filename or str(getattr(source, "name", "") or "upload")
    target = staging.new(Path(name).suffix[:12])
    if isinstance(source, (bytes, bytearray, memoryview)):
        target.write_bytes(bytes(source))
        return target, name
    if hasattr(source, "read"):
        if hasattr(source, "seek"):
            with contextlib.suppress(Exception):
                source.seek(0)
        with target.open("wb") as out:
            while True:
                chunk = source.read(_CHUNK)
                if not chunk:
                    break
                if isinstance(chunk, str):
                    chunk = chunk.encode("utf-8")
                out.write(chunk)
        return target, name
    raise IngestError("Unsupported source: give a file path, the file's bytes or an uploaded file.")


def _open_path(path: Path, name: str, settings: _Settings, staging: _Staging, detected: dict, depth: int) -> RawTable:
    size = path.stat().st_size
    if size == 0:
        raise IngestError(EMPTY_FILE)
    with path.open("rb") as handle:
        magic = handle.read(8)
    if magic.startswith(b"\x1f\x8b"):
        if depth:
            raise IngestError("The file is compressed twice. Decompress it and upload the CSV inside.")
        target = staging.new()
        _gunzip(path, target)
        detected["compression"] = "gzip"
        inner = name[:-3] if name.lower().endswith(".gz") else name
        return _open_path(target, inner, settings, staging, detected, depth + 1)
    if magic.startswith(b"PK\x03\x04") or magic.startswith(b"PK\x05\x06"):
        return _open_zip(path, name, settings, staging, detected, depth)
    if magic.startswith(b"PAR1"):
        return _open_parquet(path, detected)
    if magic.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        detected["format"] = "xls"
        return _open_excel(path, settings, detected)
    return _open_text(path, name, size, settings, staging, detected)


# ---------------------------------------------------------------- compressed files


def _bomb_check(compressed: int, expanded: int, limit: int | None = None, what: str = "The compressed file") -> None:
    """Refuse an expansion beyond ``limit`` bytes, or beyond the ratio once past the free bytes."""
    limit = MAX_DECOMPRESSED_BYTES if limit is None else limit
    if expanded > limit:
        raise IngestError(
            f"{what} expands to more than {_size(limit)}, too large to open. "
            "Export a shorter period or fewer columns."
        )
    if expanded > RATIO_FREE_BYTES and expanded > MAX_COMPRESSION_RATIO * max(compressed, 1):
        raise IngestError(
            f"{what} expands to more than {MAX_COMPRESSION_RATIO} times its size, which real exports never do "
            "(it may be a 'zip bomb' or damaged), so it was not opened. Upload the uncompressed CSV instead."
        )


def _size(size: int) -> str:
    return f"{size / 1024**3:.1f} GB" if size >= 1024**3 else f"{size / 1024**2:.0f} MB" if size >= 1024**2 else f"{size:,} bytes"


def _gunzip(source: Path, target: Path) -> None:
    """Expand a (multi-member) gzip file, refusing zip bombs as they expand."""
    consumed = expanded = 0
    decompressor = zlib.decompressobj(wbits=31)
    started = False
    try:
        with source.open("rb") as src, target.open("wb") as out:
            while chunk := src.read(1024**2):
                consumed += len(chunk)
                data = chunk
                while True:
                    if data:
                        started = True
                    piece = decompressor.decompress(data, _CHUNK)
                    expanded += len(piece)
                    _bomb_check(consumed, expanded)
                    out.write(piece)
                    data = decompressor.unconsumed_tail
                    if decompressor.eof:  # a member ended; another may follow
                        data = decompressor.unused_data.lstrip(b"\x00")
                        decompressor = zlib.decompressobj(wbits=31)
                        started = False
                        if not data:
                            break
                    elif not data and len(piece) < _CHUNK:
                        break
            rest = decompressor.flush()
            _bomb_check(consumed, expanded + len(rest))
            out.write(rest)
    except zlib.error as error:
        raise IngestError(f"The .gz file is damaged ({error}). Download or compress it again.") from error
    if started and not decompressor.eof:
        raise IngestError("The .gz file is incomplete (cut off during download or copy). Download it again.")


def _open_zip(path: Path, name: str, settings: _Settings, staging: _Staging, detected: dict, depth: int) -> RawTable:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as error:
        raise IngestError("The file looks like a zip/xlsx file but is damaged. Export it again.") from error
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir() and not info.filename.startswith("__MACOSX")]
        names = {info.filename for info in members}
        if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
            detected["format"] = "xlsx"
            from crm_core.ingest import xlsx_checks  # imported for workbooks only

            merged = xlsx_checks.check_workbook(path, archive.infolist(), _xlsx_limits())
            return _open_excel(path, settings, detected, merged)
        if depth or len(members) != 1:
            raise IngestError(
                f"The zip archive holds {len(members)} files. Upload a single CSV or Excel file (unzipped)."
            )
        target = staging.new()
        _unzip_member(archive, members[0], target)
    detected["compression"] = "zip"
    return _open_path(target, members[0].filename, settings, staging, detected, depth + 1)


def _xlsx_limits() -> xlsx_checks.Limits:
    from crm_core.ingest import xlsx_checks

    return xlsx_checks.Limits(
        part_bytes=min(MAX_XLSX_PART_BYTES, MAX_DECOMPRESSED_BYTES), total_bytes=MAX_DECOMPRESSED_BYTES,
        ratio=MAX_COMPRESSION_RATIO, ratio_free=RATIO_FREE_BYTES, cells=MAX_SHEET_CELLS, columns=MAX_COLUMNS,
    )


def _unzip_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path) -> None:
    """Extract one member, counting the bytes that come out (the declared size is not trusted)."""
    _bomb_check(member.compress_size, member.file_size)
    expanded = 0
    try:
        with archive.open(member) as src, target.open("wb") as out:
            while chunk := src.read(_CHUNK):
                expanded += len(chunk)
                _bomb_check(member.compress_size, expanded)
                out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError) as error:
        raise IngestError("The zip file is damaged or uses an unsupported compression. Compress it again (or upload the CSV).") from error


# ---------------------------------------------------------------- text (CSV, TSV, TXT)


def _read_ends(path: Path, size: int) -> tuple[bytes, bytes]:
    with path.open("rb") as handle:
        head = handle.read(SAMPLE_BYTES)
        tail = b""
        if size > SAMPLE_BYTES:
            handle.seek(max(SAMPLE_BYTES, size - 65536))
            tail = handle.read()
    return head, tail


def _open_text(path: Path, name: str, size: int, settings: _Settings, staging: _Staging, detected: dict) -> RawTable:
    csv_path, text = _utf8_text(path, size, settings, staging, detected)
    if "\x00" in text:  # a damaged line: ids holding NUL bytes are rejected (checked only in such files)
        detected["nul_bytes"] = True
    layout = _layout(text, name, settings)
    detected.update(delimiter=layout.delimiter, header=layout.has_header)
    if layout.header_index:
        detected["skipped_lines"] = layout.header_index
    args = (csv_path, layout.names, layout.header_index, layout.has_header, layout.first_line)
    if layout.delimiter == sniff.WHITESPACE:
        frame, raw_text = _whitespace_frame(*args)
        table = _finish_table(frame, layout.names, raw_text, detected)
        table.first_line = layout.first_line
        table.warnings.extend(_layout_warnings(layout, detected))
        return table
    frame, raw_text, scan = _delimited_frame(*args, delimiter=layout.delimiter, quote=settings.quote)
    if not settings.quote:
        detected["quotes"] = "ignored"
    head = _rows_of_head(csv_path, scan)
    table = _finish_table(frame, layout.names, raw_text, detected, head=scan({}) if head is None else head)
    table.typed, table.unnumbered, table.first_line = partial(scan, strict=True), scan({}), layout.first_line
    table.text_bytes = csv_path.stat().st_size
    table.warnings.extend(_layout_warnings(layout, detected))
    return table


def _rows_of_head(path: Path, scan: Callable[..., pl.LazyFrame]) -> pl.LazyFrame | None:
    """The sample's rows read from the file's first megabyte, or None when it does not hold more
    rows than the sample (a small file, long rows, a quoted field running past it): asked for its
    first rows, the CSV reader still maps and splits the whole file. The rows are the file's first
    ones either way: a row is read from the bytes before its end, and the cut is after a whole row."""
    with path.open("rb") as handle:
        head = handle.read(SAMPLE_BYTES)
    if len(head) < SAMPLE_BYTES:
        return None
    for size in (SAMPLE_BYTES // 4, SAMPLE_BYTES):  # a quarter holds the sample of a narrow table
        end = head.rfind(b"\n", 0, size)
        if end < 0:
            continue
        try:
            rows = scan({}, source=head[: end + 1]).head(SAMPLE_ROWS + 1).collect()
        except Exception:  # noqa: BLE001 - e.g. a quote left open at the cut: more bytes, or the whole file, decide
            continue
        if rows.height > SAMPLE_ROWS:
            return rows.lazy()
    return None


def text_batches(table: RawTable, rows: int) -> Iterator[RawTable]:
    """A delimited table in batches of ``rows`` rows, each a :class:`RawTable` held in memory.

    Each batch has the text columns and ``__line`` of its rows (so line numbers
    and raw text are the file's), the whole table's sample, and no ``typed``
    fast path: its values are parsed from the text.
    """
    delimiter = str(table.detected.get("delimiter", ","))
    for batch in table.frame.collect_batches(chunk_size=rows):
        if batch.height == 0:
            continue
        frame = batch.lazy()
        part = RawTable(frame, table.columns, table.sample, table.complete, table.detected, [],
                        _joined_raw(frame, table.columns, delimiter))
        part.unnumbered, part.first_line = frame.drop(LINE), int(batch.get_column(LINE)[0])
        yield part


def _utf8_text(path: Path, size: int, settings: _Settings, staging: _Staging, detected: dict) -> tuple[Path, str]:
    """A UTF-8 file with the table (transcoded if needed) and its decoded first megabyte."""
    head, tail = _read_ends(path, size)
    complete = size <= SAMPLE_BYTES
    skip = 0 if settings.encoding else sniff.lying_bom(head, tail, complete)
    if skip:  # a byte-order mark the text contradicts: the text's own encoding, the mark left out
        detected["ignored_bom"] = "UTF-8" if head.startswith(codecs.BOM_UTF8) else "UTF-16"
        head = head[skip:]
    encoding = _encoding(settings.encoding) if settings.encoding else sniff.sniff_encoding(head, tail, complete)
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head, final=complete)
    if sniff.looks_binary(head, text):
        raise IngestError(BINARY_FILE)
    if _JSON_START.match(text.lstrip("\ufeff \t\r\n")):  # else its first line was taken for column names
        raise IngestError(JSON_FILE)
    if not complete:  # drop the last, probably cut, line
        _refuse_giant_lines(text)
        text = text[: text.rfind("\n") + 1] or text
    # Nothing (isspace(): what strip() removes, without copying the megabyte), or only Excel's "sep=;" line.
    if not text or text.isspace() or re.fullmatch(r"\ufeff?sep=.\s*", text):
        raise IngestError(EMPTY_FILE)
    csv_path = path
    if skip or codecs.lookup(encoding).name not in ("utf-8", "utf-8-sig", "ascii") or _has_lone_cr(path):
        csv_path = staging.new(".csv")
        _transcode(path, csv_path, encoding, skip)
        text = _lf_line_ends(text)
    detected.update(format="csv", encoding=_encoding_label(encoding))
    return csv_path, text


def _refuse_giant_lines(head: str) -> None:
    """A header and a first data row must fit in the sample: a longer line is no export, and the reader
    would hold it whole (a 200 MB line needs gigabytes), so it is refused before reading."""
    first = _line_break(head, 0)
    breaks = 0 if first < 0 else 1 if _line_break(head, first + 1) < 0 else 2
    if breaks < 2:
        raise IngestError(
            f"Line {breaks + 1} of this file is longer than {_size(SAMPLE_BYTES)} (no line break), which an order export "
            "never has. Check the file, or export it again as CSV."
        )


def _line_break(text: str, start: int) -> int:
    """Position of the first LF or CR at or after ``start`` (-1: none); a CRLF counts once, at its CR."""
    found = [at for at in (text.find("\n", start), text.find("\r", start)) if at >= 0]
    if not found:
        return -1
    at = min(found)
    return at + 1 if text.startswith("\r\n", at) else at


def _encoding(name: str) -> str:
    try:
        return sniff.normalise_encoding(name)
    except LookupError as error:
        raise IngestError(f"Unknown encoding '{name}'. Use for example utf-8, utf-16, cp1252 or latin-1.") from error


class _Layout(NamedTuple):
    delimiter: str
    header_index: int  # lines above the header (report titles)
    has_header: bool
    names: list[str]
    repeated: tuple[str, ...] = ()  # header names written more than once
    ignored_sep: str | None = None  # Excel's "sep=" line named a delimiter no row holds

    @property
    def first_line(self) -> int:
        """Line number of the first data row (header = line 1 when on top)."""
        return self.header_index + (2 if self.has_header else 1)


def _layout(text: str, name: str, settings: _Settings) -> _Layout:
    """Delimiter, header position and column names, from the decoded sample."""
    declared = re.match(r"^\ufeff?sep=(.)\r?\n", text)  # Excel's "sep=;" first line
    delimiter, ignored = settings.delimiter, None
    if not delimiter and declared:  # honoured when rows hold it: a "sep=;" above comma-separated rows is wrong
        body = sniff.first_lines(text[declared.end():], 50)
        if any(declared.group(1) in line for line in body):
            delimiter = declared.group(1)
        else:
            ignored = declared.group(1)
    delimiter = delimiter or sniff.sniff_delimiter(text[declared.end():] if declared else text, _delimiter_hint(name))
    if delimiter != sniff.WHITESPACE and len(delimiter.encode("utf-8")) != 1:
        raise IngestError(f"The delimiter must be a single character such as , ; | or tab (got '{delimiter}').")
    rows = sniff.split_rows("\n".join(sniff.first_lines(text, 300)), delimiter)
    header_index, has_header = sniff.find_header(rows)
    if declared and header_index == 0:
        header_index, has_header = sniff.find_header(rows[1:])
        header_index += 1
    two_rows = None if has_header or settings.has_header is not None else sniff.two_row_header(rows)
    if two_rows is not None:  # a merged group name over the column names (a workbook saved as CSV)
        header_index, has_header = two_rows[0], True
    if settings.has_header is not None:
        has_header = settings.has_header
    repeated: tuple[str, ...] = ()
    if two_rows is not None:
        names = _clean_names(two_rows[1])
    elif has_header and header_index < len(rows):
        names = _clean_names(rows[header_index])
        written = Counter(cell.strip().strip("\ufeff") for cell in rows[header_index])
        repeated = tuple(name for name, count in written.items() if name and count > 1)
    else:
        width = max((len(row) for row in rows[header_index : header_index + 200]), default=1)
        names = [f"column_{i + 1}" for i in range(width)]
    _check_width(len(names))
    return _Layout(delimiter, header_index, has_header, names, repeated, ignored)


def _layout_warnings(layout: _Layout, detected: dict) -> list[str]:
    """What the layout chose that the user should know: repeated names, a "sep=" line not followed, a
    byte-order mark that did not fit the text."""
    warnings = _repeated_names_warning(layout.repeated)
    if detected.get("ignored_bom"):
        warnings.append(f"The file starts with a {detected['ignored_bom']} byte-order mark, but its text is "
                        f"{_encoding_label(detected.get('encoding', ''))}: it was read as such, the mark ignored. "
                        "If accents look wrong, choose the encoding (CLI: --encoding).")
    if layout.ignored_sep is not None:
        shown = "tab" if layout.delimiter == "\t" else f"'{layout.delimiter}'"
        warnings.append(f"The file's first line says sep={layout.ignored_sep} but no row holds a '{layout.ignored_sep}': "
                        f"the rows were split by {shown}. If that's wrong, choose the delimiter (CLI: --delimiter).")
    return warnings


def _repeated_names_warning(repeated: tuple[str, ...]) -> list[str]:
    """Two columns with one name: the first is the one mapped, and the user should know there was a choice."""
    if not repeated:
        return []
    shown = ", ".join(f"'{name}'" for name in repeated[:5])
    return [f"Several columns have the same name ({shown}): the first of each is used as it is, the next ones are "
            f"read as '{repeated[0]}_2', ...; pick another one in 'Column mapping' if needed (CLI: --amount COL, ...)."]


def _encoding_label(encoding: str) -> str:
    name = codecs.lookup(encoding).name
    return {"iso8859-1": "latin-1", "utf-8": "utf-8"}.get(name, name)


def _delimiter_hint(name: str) -> str | None:
    lower = name.lower().removesuffix(".gz")
    return "\t" if lower.endswith(".tsv") or lower.endswith(".tab") else None


def _transcode(source: Path, target: Path, encoding: str, skip: int = 0) -> None:
    """Rewrite a text file as UTF-8 in chunks, every line end (CR, LF or CRLF) as LF (its first ``skip``
    bytes, a byte-order mark that does not fit the text, left out)."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    held = ""  # a CR at the end of a chunk may be the first half of CRLF
    with source.open("rb") as src, target.open("w", encoding="utf-8", newline="") as out:
        src.seek(skip)
        while chunk := src.read(_CHUNK):
            piece = held + decoder.decode(chunk)
            held = "\r" if piece.endswith("\r") else ""
            out.write(_lf_line_ends(piece[: len(piece) - len(held)]))
        out.write(_lf_line_ends(held + decoder.decode(b"", final=True)))


def _lf_line_ends(text: str) -> str:
    """CRLF and lone CR line ends as LF (inside quoted fields too, where they stay part of the field)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _has_lone_cr(path: Path) -> bool:
    """Does a UTF-8 file end some lines with a bare CR? (:func:`prefetch.has_lone_cr`; a supervised
    command's parent may have found out already.)"""
    known = prefetch.lone_cr(path)
    return prefetch.has_lone_cr(path) if known is None else known


def _clean_names(cells: list[str]) -> list[str]:
    """Header names made unique and non-empty (blank -> column_N, repeats -> name_2)."""
    names: list[str] = []
    seen: set[str] = set()
    for index, cell in enumerate(cells):
        base = cell.strip().strip("\ufeff") or f"column_{index + 1}"
        candidate, suffix = base, 2
        while candidate in seen or candidate in (LINE, _ROW, _TEXT):
            candidate, suffix = f"{base}_{suffix}", suffix + 1
        seen.add(candidate)
        names.append(candidate)
    return names


def _check_width(width: int) -> None:
    if width > MAX_COLUMNS:
        raise IngestError(
            f"The file has {width} columns; at most {MAX_COLUMNS} are supported. "
            "Export only the columns you need (customer, date, amount, ...)."
        )


def _quoted(column: str, delimiter: str) -> pl.Expr:
    value = pl.col(column).cast(pl.String).fill_null("")
    needs_quotes = value.str.contains(delimiter, literal=True) | value.str.contains('"', literal=True)
    return pl.when(needs_quotes).then(pl.lit('"') + value.str.replace_all('"', '""', literal=True) + pl.lit('"')).otherwise(value)


def _joined_raw(
    frame: pl.LazyFrame, names: list[str], delimiter: str, sheet: str | None = None
) -> Callable[[pl.Series], pl.DataFrame]:
    def raw_text(lines: pl.Series) -> pl.DataFrame:
        joined = pl.concat_str([_quoted(n, delimiter) for n in names], separator=delimiter)
        if EXTRA in frame.collect_schema().names():  # the first field beyond the header, when there is one
            joined = pl.when(pl.col(EXTRA).is_null()).then(joined).otherwise(joined + delimiter + _quoted(EXTRA, delimiter))
        if sheet is not None:
            joined = pl.lit("[") + pl.col(sheet) + pl.lit("] ") + joined
        return (
            frame.filter(pl.col(LINE).is_in(lines.implode(), nulls_equal=False))
            .select(pl.col(LINE), joined.alias("raw"))
            .collect()
        )

    return raw_text


def _delimited_frame(
    path: Path, names: list[str], header_index: int, has_header: bool, first_line: int, *, delimiter: str, quote: bool
) -> tuple[pl.LazyFrame, Callable[[pl.Series], pl.DataFrame], Callable[..., pl.LazyFrame]]:
    def scan(overrides: dict[str, pl.DataType], numbered: bool = False, source: Path | bytes = path,
             strict: bool = False) -> pl.LazyFrame:
        frame = pl.scan_csv(
            source,
            separator=delimiter,
            quote_char='"' if quote else None,
            has_header=False,
            skip_rows=header_index + (1 if has_header else 0),
            # one more column than the header: a row with more fields shows it (further fields are dropped)
            schema={**{n: overrides.get(n, pl.String) for n in names}, EXTRA: pl.String},
            encoding="utf8" if strict else "utf8-lossy",  # strict UTF-8 reads faster; lossy reads anything
            truncate_ragged_lines=True,
            row_index_name=_ROW if numbered else None,
            raise_if_empty=False,
            missing_columns="insert",
            extra_columns="ignore",
        )
        if not numbered:
            return frame
        return frame.with_columns((pl.col(_ROW).cast(pl.Int64) + first_line).alias(LINE)).drop(_ROW)

    frame = scan({}, numbered=True)
    return frame, _joined_raw(frame, names, delimiter), scan


def _whitespace_frame(
    path: Path, names: list[str], header_index: int, has_header: bool, first_line: int
) -> tuple[pl.LazyFrame, Callable[[pl.Series], pl.DataFrame]]:
    lines = pl.scan_csv(
        path,
        separator="\x1f",
        quote_char=None,
        has_header=False,
        skip_rows=header_index + (1 if has_header else 0),
        schema={_TEXT: pl.String},
        encoding="utf8-lossy",
        truncate_ragged_lines=True,
        row_index_name=_ROW,
        raise_if_empty=False,
        missing_columns="insert",
        extra_columns="ignore",
    ).with_columns((pl.col(_ROW).cast(pl.Int64) + first_line).alias(LINE))
    tokens = pl.col(_TEXT).str.extract_all(r"\S+")
    frame = lines.select(
        [tokens.list.get(i, null_on_oob=True).alias(n) for i, n in enumerate(names)] + [pl.col(LINE)]
    )

    def raw_text(wanted: pl.Series) -> pl.DataFrame:
        return (
            lines.filter(pl.col(LINE).is_in(wanted.implode(), nulls_equal=False))
            .select(pl.col(LINE), pl.col(_TEXT).fill_null("").alias("raw"))
            .collect()
        )

    return frame, raw_text


def _finish_table(
    frame: pl.LazyFrame,
    names: list[str],
    raw_text: Callable[[pl.Series], pl.DataFrame],
    detected: dict,
    head: pl.LazyFrame | None = None,
) -> RawTable:
    """Wrap up a table; ``head`` is a cheaper query of the same rows for the sample."""
    sample = (frame if head is None else head).head(SAMPLE_ROWS).collect()
    text_sample = sample.select([pl.col(n).cast(pl.String) if _castable(sample.schema[n]) else pl.lit(None, pl.String).alias(n) for n in names])
    return RawTable(frame, names, text_sample, sample.height < SAMPLE_ROWS, detected, [], raw_text)


def _castable(dtype: pl.DataType) -> bool:
    return not isinstance(dtype, (pl.List, pl.Array, pl.Struct, pl.Object))


# ---------------------------------------------------------------- Parquet and Excel


def _open_parquet(path: Path, detected: dict) -> RawTable:
    detected.update(format="parquet")
    from crm_core.ingest import parquet_checks  # imported for Parquet files only

    parquet_checks.check_parquet(path, parquet_checks.Limits(
        rows=MAX_PARQUET_ROWS, bytes=MAX_PARQUET_BYTES, ratio=MAX_PARQUET_RATIO, ratio_free=PARQUET_RATIO_FREE_BYTES,
        columns=MAX_COLUMNS,
    ))
    frame = pl.scan_parquet(path)
    schema = frame.collect_schema()
    names = [n for n, dtype in schema.items() if _castable(dtype)]
    _check_width(len(names))
    renamed = _clean_names(names)
    frame = frame.select([pl.col(old).alias(new) for old, new in zip(names, renamed)])
    unnumbered = frame
    frame = frame.with_row_index(_ROW).with_columns((pl.col(_ROW).cast(pl.Int64) + 2).alias(LINE)).drop(_ROW)
    table = _finish_table(frame, renamed, _joined_raw(frame, renamed, ","), detected, head=unnumbered)
    table.unnumbered, table.first_line = unnumbered, 2
    return table


def _open_excel(path: Path, settings: _Settings, detected: dict,
                merged: dict[str, tuple[int, str]] | None = None) -> RawTable:
    """Read a workbook (calamine engine) with every cell as text; pick the sheet. ``merged``: the sheets' parts
    with cells merged over several rows (:func:`~crm_core.ingest.xlsx_checks.check_workbook`)."""
    options: dict[str, Any] = dict(
        engine="calamine",
        has_header=False,
        read_options={"dtypes": "string", "header_row": None},
        drop_empty_rows=False,
        drop_empty_cols=False,
        raise_if_empty=False,
    )
    if settings.sheet:
        try:
            sheets = {settings.sheet: pl.read_excel(path, sheet_name=settings.sheet, **options)}
        except Exception as error:
            raise IngestError(f"The workbook has no sheet named '{settings.sheet}'. Check the sheet name.") from error
    else:
        sheets = pl.read_excel(path, sheet_id=0, **options)
    hidden = set() if settings.sheet else _hidden_sheets(path) & {n for n, frame in sheets.items() if frame.height}
    tables = {name: _sheet_table(frame) for name, frame in sheets.items() if frame.height and name not in hidden}
    if not tables and hidden:  # only hidden sheets hold data: read them rather than nothing
        tables, hidden = {name: _sheet_table(sheets[name]) for name in sheets if name in hidden}, set()
    if not tables:
        raise IngestError("Every sheet of the workbook is empty. Check you exported the right file.")
    score = settings.sheet_score or (lambda names: 0)
    chosen = max(tables, key=lambda name: (score(tables[name][1]), -list(tables).index(name)))
    frame, names, has_header, header_index = tables[chosen]
    _check_width(len(names))
    # Sheets with exactly the same columns (e.g. one sheet per year) are one table.
    stacked = [chosen] + [n for n in tables if n != chosen and tables[n][1] == names and has_header]
    detected.update(format=detected.get("format", "xlsx"), sheet=chosen if len(stacked) == 1 else stacked, header=has_header)
    first_line = header_index + (2 if has_header else 1)
    if len(stacked) > 1:
        frame = pl.concat([tables[n][0].with_columns(pl.lit(n).alias(_TEXT)) for n in stacked])
    unnumbered = frame.lazy().drop(_TEXT, strict=False)
    frame = frame.with_row_index(_ROW).with_columns((pl.col(_ROW).cast(pl.Int64) + first_line).alias(LINE)).drop(_ROW)
    raw_text = _joined_raw(frame.lazy(), names, ",", sheet=_TEXT if len(stacked) > 1 else None)
    table = _finish_table(frame.lazy().drop(_TEXT, strict=False), names, raw_text, detected, head=unnumbered)
    table.unnumbered, table.first_line = unnumbered, first_line
    starts = [tables[n][3] + (1 if has_header else 0) for n in stacked]
    table.cell_dates = lru_cache(maxsize=2)(partial(_cell_dates, path, stacked, starts, names, frame.height))
    if len(stacked) > 1:
        table.warnings.append(
            f"The sheets {', '.join(repr(n) for n in stacked)} have the same columns and were read as one table "
            "(line numbers count on from one sheet to the next; the raw text names the sheet)."
        )
    elif len(tables) > 1:
        table.warnings.append(
            f"The workbook has {len(tables)} sheets with data; sheet '{chosen}' was read. "
            "Pick another one with --sheet if needed."
        )
    for name in stacked:
        count, first = (merged or {}).get(_sheet_part(path, name) or "", (0, ""))
        if count:
            table.warnings.append(
                f"Sheet '{name}' has {count:,} ranges of cells merged over several rows (the first {first}): only a "
                "range's first row holds its value, so the rows below read it blank (e.g. 'missing customer id'). "
                "In Excel, unmerge them and fill the values down, then export again."
            )
    if hidden:
        table.warnings.append(
            f"The workbook's hidden sheets ({', '.join(repr(n) for n in sorted(hidden))}) were not read: they are "
            "not what the workbook shows. Pick one with --sheet if it holds the orders."
        )
    return table


#: A sheet entry of xl/workbook.xml. Not "[^>]*": from each of 4 MB of "<sheet " without a ">" that scanned to the end
#: (quadratic: 140 KB took 2.9 s, 4 MB would take about 40 minutes); "<" is never inside an XML tag.
_SHEET_ENTRY = re.compile(rb"<(?:\w+:)?sheet\b[^<>]*>")
_SHEET_NAME = re.compile(rb"""\sname=["']([^"']*)["']""")
_SHEET_STATE = re.compile(rb"""\sstate=["'](hidden|veryHidden)["']""")


def _hidden_sheets(path: Path) -> set[str]:
    """Names of the sheets an ``.xlsx`` workbook hides (``state="hidden"`` or ``"veryHidden"`` in
    ``xl/workbook.xml``, its first 4 MB); none for other workbooks or when the part cannot be read."""
    import html

    try:
        with zipfile.ZipFile(path) as archive, archive.open("xl/workbook.xml") as part:
            text = part.read(4 * 1024**2)
    except Exception:  # noqa: BLE001 - an .xls, or no such part: no sheet is known to be hidden
        return set()
    hidden = set()
    for entry in _SHEET_ENTRY.findall(text):
        name, state = _SHEET_NAME.search(entry), _SHEET_STATE.search(entry)
        if name and state:
            hidden.add(html.unescape(name.group(1).decode("utf-8", "replace")))
    return hidden


_RELATIONSHIP = re.compile(rb"<(?:\w+:)?Relationship\b[^<>]*>")
_SHEET_ID = re.compile(rb"""\sr:id=["']([^"']*)["']""")


def _sheet_part(path: Path, sheet: str) -> str | None:
    """The part of an ``.xlsx`` holding the sheet named ``sheet`` (``xl/worksheets/sheet2.xml``), from
    ``xl/workbook.xml`` and its relationships (their first 4 MB); None when they cannot tell."""
    import html

    try:
        with zipfile.ZipFile(path) as archive:
            with archive.open("xl/workbook.xml") as part:
                book = part.read(4 * 1024**2)
            with archive.open("xl/_rels/workbook.xml.rels") as part:
                links = part.read(4 * 1024**2)
    except Exception:  # noqa: BLE001 - an .xls, or no such part
        return None
    for entry in _SHEET_ENTRY.findall(book):
        name, ident = _SHEET_NAME.search(entry), _SHEET_ID.search(entry)
        if name and ident and html.unescape(name.group(1).decode("utf-8", "replace")) == sheet:
            for link in _RELATIONSHIP.findall(links):
                if re.search(rb"""\sId=["']""" + re.escape(ident.group(1)) + rb"""["']""", link):
                    target = re.search(rb"""\sTarget=["']([^"']*)["']""", link)
                    if target:
                        found = target.group(1).decode("utf-8", "replace")
                        return found.lstrip("/") if found.startswith("/") else f"xl/{found}"
    return None


def _cell_dates(path: Path, sheets: list[str], starts: list[int], names: list[str], height: int,
                column: str) -> pl.Series:
    """``column``'s cells as the workbook types them, as dates: a number cell is its Excel serial day, a date
    cell its date; text, blank and other cells are null. One column of each sheet read again, rows aligned
    with the text read (same options: the sheet's used range decides the first row); all null if they
    cannot be aligned."""
    index = names.index(column)
    options: dict[str, Any] = dict(
        engine="calamine", has_header=False, drop_empty_rows=False, drop_empty_cols=False, raise_if_empty=False,
        read_options={"dtypes": {index: "date"}, "header_row": None, "use_columns": [index]},
    )
    parts = [pl.read_excel(path, sheet_name=sheet, **options).to_series(0).slice(start)
             for sheet, start in zip(sheets, starts)]
    cells = pl.concat(parts) if parts else pl.Series([], dtype=pl.Date)
    if cells.dtype != pl.Date or cells.len() != height:
        return pl.Series(column, [None] * height, dtype=pl.Date)
    return cells.alias(column)


def _sheet_table(raw: pl.DataFrame) -> tuple[pl.DataFrame, list[str], bool, int]:
    raw = raw.select(pl.all().cast(pl.String))
    rows = [[cell or "" for cell in row] for row in raw.head(200).iter_rows()]
    header_index, has_header = sniff.find_header(rows)
    width = raw.width
    two_rows = None if has_header else sniff.two_row_header(rows)
    if two_rows is not None:  # a merged group name over the column names
        header_index, has_header = two_rows[0], True
        names = _clean_names(two_rows[1] + [""] * (width - len(two_rows[1])))
    elif has_header:
        names = _clean_names(rows[header_index] + [""] * (width - len(rows[header_index])))
    else:
        names = [f"column_{i + 1}" for i in range(width)]
    body = raw.slice(header_index + (1 if has_header else 0))
    body.columns = names
    return body, names, has_header, header_index
