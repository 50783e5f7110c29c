"""Generators of hostile files: each writes one file that tries to hurt the reader.

Sizes are parameters, so tests make small ones and lower the reader's caps;
the defaults reproduce the cases of issue 14 at full size.
"""
from __future__ import annotations

import gzip
import os
import struct
import zipfile
from pathlib import Path

HEADER_ROW = b'<row r="1"><c r="A1" t="inlineStr"><is><t>customer</t></is></c><c r="B1" t="inlineStr"><is><t>date</t></is></c><c r="C1" t="inlineStr"><is><t>amount</t></is></c></row>'

_CONTENT_TYPES = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"""
_RELS = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"""
_WORKBOOK = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Orders" sheetId="1" r:id="rId1"/></sheets></workbook>"""
_WORKBOOK_RELS = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"""


def order_row(row: int, customer: str = "C1", day: str = "2024-01-05", amount: str = "10.5") -> bytes:
    return (
        f'<row r="{row}"><c r="A{row}" t="inlineStr"><is><t>{customer}</t></is></c>'
        f'<c r="B{row}" t="inlineStr"><is><t>{day}</t></is></c><c r="C{row}"><v>{amount}</v></c></row>'
    ).encode()


def sheet_xml(rows: bytes, dimension: str | None = "A1:C3") -> bytes:
    claimed = f'<dimension ref="{dimension}"/>'.encode() if dimension else b""
    return (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        + claimed + b"<sheetData>" + HEADER_ROW + rows + b"</sheetData></worksheet>"
    )


def xlsx(path: Path, sheet: bytes, *, padding: int = 0) -> Path:
    """A minimal workbook with ``sheet`` as its only sheet (plus ``padding`` random bytes in a second member)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
        if padding:
            archive.writestr("xl/media/image1.bin", os.urandom(padding), zipfile.ZIP_STORED)
    return path


def readable_xlsx(path: Path) -> Path:
    """A small honest workbook (two orders): the control for the hostile ones."""
    return xlsx(path, sheet_xml(order_row(2) + order_row(3, "C2", "2024-02-01", "20")))


def far_corner_xlsx(path: Path) -> Path:
    """1.6 KB: two orders, but the sheet claims the range up to the far corner cell XFD1048576."""
    return xlsx(path, sheet_xml(order_row(2) + order_row(3, "C2"), dimension="A1:XFD1048576"))


def far_cell_xlsx(path: Path) -> Path:
    """Two orders and one real cell in the far corner (no dimension): the cells span the whole sheet."""
    far = b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
    return xlsx(path, sheet_xml(order_row(2) + far, dimension=None))


def wide_xlsx(path: Path, column: str = "AMK", rows: int = 200_000) -> Path:
    """Orders plus one cell in a column beyond the 1,000-column limit on a far row."""
    far = f'<row r="{rows}"><c r="{column}{rows}"><v>1</v></c></row>'.encode()
    return xlsx(path, sheet_xml(order_row(2) + far, dimension=None))


def lying_size_xlsx(path: Path, actual_bytes: int, declared_bytes: int = 20_000) -> Path:
    """A sheet of ``actual_bytes`` of XML whose zip headers declare ``declared_bytes`` (written, then falsified)."""
    one = order_row(2)
    count = max(1, (actual_bytes - 300) // len(one))
    rows = b"".join(order_row(i + 2) for i in range(min(count, 1000)))
    body = rows * max(1, count // 1000)
    xlsx(path, sheet_xml(body, dimension=None))
    falsify_size(path, "xl/worksheets/sheet1.xml", declared_bytes)
    return path


def padded_xlsx(path: Path, sheet_bytes: int, padding: int) -> Path:
    """A very compressible sheet plus a member of random padding, so the archive's overall ratio looks normal."""
    blank = b'<row r="2"><c r="A2" t="inlineStr"><is><t>' + b"x" * max(0, sheet_bytes - 400) + b"</t></is></c></row>"
    return xlsx(path, sheet_xml(blank, dimension=None), padding=padding)


def falsify_size(path: Path, member: str, declared: int) -> None:
    """Overwrite the uncompressed size of ``member`` in its local header and its central directory entry."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        offset = archive.getinfo(member).header_offset
    struct.pack_into("<I", data, offset + 22, declared)
    name = member.encode()
    central = data.find(b"PK\x01\x02")
    while central != -1:
        name_length = struct.unpack_from("<H", data, central + 28)[0]
        if bytes(data[central + 46 : central + 46 + name_length]) == name:
            struct.pack_into("<I", data, central + 24, declared)
            break
        central = data.find(b"PK\x01\x02", central + 4)
    path.write_bytes(bytes(data))


def gzip_bomb(path: Path, expanded: int) -> Path:
    """A .csv.gz of a header and ``expanded`` bytes of blank lines (compresses about 1000:1)."""
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write(b"customer,date,amount\n")
        block = b"\n" * 1024**2
        for _ in range(expanded // len(block)):
            out.write(block)
    return path


def junk_rows_csv(path: Path, junk: int, valid: int = 5000) -> Path:
    """A header, ``valid`` good orders, then ``junk`` rows that are not orders (6 bytes each)."""
    with path.open("wb") as out:
        out.write(b"customer,date,amount\n")
        for index in range(valid):
            out.write(f"C{index},2024-01-0{index % 9 + 1},{index + 1}.50\n".encode())
        block = b"x,y,z\n" * 100_000
        for _ in range(junk // 100_000):
            out.write(block)
        out.write(b"x,y,z\n" * (junk % 100_000))
    return path


def huge_amounts_csv(path: Path) -> Path:
    """Amounts at the edge of floating point: sums would overflow to infinity."""
    rows = "".join(f"C{i},2024-01-0{i + 1},1e308\n" for i in range(5))
    path.write_text("customer,date,amount\n" + rows + "C9,2024-01-09,-1e308\nC8,2024-01-09,inf\nC7,2024-01-09,12.5\n")
    return path


def single_line(path: Path, size: int) -> Path:
    """One line of ``size`` bytes, no line break."""
    with path.open("wb") as out:
        block = b"A" * 1024**2
        for _ in range(size // len(block)):
            out.write(block)
        out.write(b"A" * (size % len(block)))
    return path


def corrupt_parquet(path: Path, source: Path) -> Path:
    """A real Parquet file with its data pages overwritten by garbage (the footer is intact)."""
    data = bytearray(source.read_bytes())
    footer = struct.unpack("<I", data[-8:-4])[0]
    middle = range(4, len(data) - 8 - footer)
    for index in middle[:: max(1, len(middle) // 64)]:
        data[index] = 0xFF
    path.write_bytes(bytes(data))
    return path


# ---------------------------------------------------------------- Parquet by hand (Thrift compact protocol)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _zigzag(value: int) -> bytes:
    return _varint((value << 1) ^ (value >> 63))


def _struct(fields: list[tuple[int, str, object]]) -> bytes:
    """Encode a struct: fields (id, type, value), type in i32 i64 bin list struct; ids ascending."""
    out, last = bytearray(), 0
    kinds = {"i32": 5, "i64": 6, "bin": 8, "list": 9, "struct": 12}
    for field, kind, value in fields:
        code = kinds[kind]
        delta = field - last
        out += bytes([(delta << 4) | code]) if 0 < delta <= 15 else bytes([code]) + _zigzag(field)
        last = field
        if kind in ("i32", "i64"):
            out += _zigzag(value)
        elif kind == "bin":
            raw = value.encode() if isinstance(value, str) else value
            out += _varint(len(raw)) + raw
        elif kind == "struct":
            out += value
        else:
            element, items = value
            head = (min(len(items), 15) << 4) | {"i32": 5, "bin": 8, "struct": 12}[element]
            out += bytes([head]) + (_varint(len(items)) if len(items) >= 15 else b"")
            for item in items:
                out += _zigzag(item) if element == "i32" else (_varint(len(item.encode())) + item.encode()) if element == "bin" else item
    return bytes(out + b"\x00")


def hand_parquet(path: Path, values: list[int], *, claimed_page_bytes: int | None = None,
                 claimed_page_values: int | None = None) -> Path:
    """One required INT64 column ``amount``, PLAIN, uncompressed, one data page.

    ``claimed_page_bytes`` / ``claimed_page_values`` make the page header lie
    about the page's decompressed size or its number of values.
    """
    data = b"".join(struct.pack("<q", value) for value in values)
    page_values = len(values) if claimed_page_values is None else claimed_page_values
    page_bytes = len(data) if claimed_page_bytes is None else claimed_page_bytes
    data_page = _struct([(1, "i32", page_values), (2, "i32", 0), (3, "i32", 3), (4, "i32", 3)])
    header = _struct([(1, "i32", 0), (2, "i32", page_bytes), (3, "i32", len(data)), (5, "struct", data_page)])
    chunk_bytes = len(header) + len(data)
    column_meta = _struct([
        (1, "i32", 2), (2, "list", ("i32", [0])), (3, "list", ("bin", ["amount"])), (4, "i32", 0),
        (5, "i64", len(values)), (6, "i64", len(header) + page_bytes), (7, "i64", chunk_bytes), (9, "i64", 4),
    ])
    chunk = _struct([(2, "i64", 4), (3, "struct", column_meta)])
    group = _struct([(1, "list", ("struct", [chunk])), (2, "i64", chunk_bytes), (3, "i64", len(values))])
    root = _struct([(4, "bin", "schema"), (5, "i32", 1)])
    leaf = _struct([(1, "i32", 2), (3, "i32", 0), (4, "bin", "amount")])
    footer = _struct([
        (1, "i32", 1), (2, "list", ("struct", [root, leaf])), (3, "i64", len(values)),
        (4, "list", ("struct", [group])),
    ])
    path.write_bytes(b"PAR1" + header + data + footer + struct.pack("<I", len(footer)) + b"PAR1")
    return path
