"""Second hostile sweep: generators of real-shaped and hostile exports (session 9).

Small files are written by the tests at test time (``SMALL``: name -> writer(path)); the large ones
(``LARGE``) only by hand into /tmp: ``python tests/hostile/sweep.py /tmp/sweep [--large]`` writes every file
and runs every CLI command on each, printing one line per file x command (exit code, rows, first stderr line).
"""
from __future__ import annotations

import csv
import gzip
import io
import os
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `hostile` when run as a script

import hostile  # noqa: E402

HEADER = ["customer_id", "order_date", "amount"]


def base_rows(customers: int = 40, orders: int = 240) -> list[list[str]]:
    """Orders of repeat customers over 2023-2024 (enough for the CLV fit): rows of text, ISO dates."""
    rows = []
    for index in range(orders):
        customer = index % customers if index % 7 else index % 5  # a few customers buy often
        month, day = 1 + index % 12, 1 + (index * 7) % 28
        year = 2023 + (index // 120)
        rows.append([f"C{customer:03d}", f"{year}-{month:02d}-{day:02d}", f"{10 + (index * 37) % 190}.{index % 100:02d}"])
    return rows


def _csv_text(rows: list[list[str]], header: list[str] = HEADER, delimiter: str = ",") -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# ---------------------------------------------------------------- encodings and bytes


def utf16le_bom(path: Path) -> Path:
    return _write(path, b"\xff\xfe" + _csv_text(base_rows()).encode("utf-16-le"))


def utf16be_bom(path: Path) -> Path:
    return _write(path, b"\xfe\xff" + _csv_text(base_rows()).encode("utf-16-be"))


def utf8_bom_semicolon(path: Path) -> Path:
    rows = [[c, d, a.replace(".", ",")] for c, d, a in base_rows()]
    return _write(path, "\ufeff" + _csv_text(rows, delimiter=";"))


def nul_inside_line(path: Path) -> Path:
    """A NUL byte inside a customer id and one inside an amount (rows 3 and 5)."""
    text = _csv_text(base_rows()).encode()
    lines = text.split(b"\n")
    lines[2] = lines[2].replace(b"C", b"C\x00", 1)
    lines[4] = lines[4][:-2] + b"\x00" + lines[4][-2:]
    return _write(path, b"\n".join(lines))


def wide_columns(path: Path, columns: int = 20_000) -> Path:
    header = HEADER + [f"x{index}" for index in range(columns - 3)]
    rows = [row + ["1"] * (columns - 3) for row in base_rows()[:20]]
    return _write(path, _csv_text(rows, header))


def header_repeated(path: Path) -> Path:
    """Two exports concatenated: the header comes again in the middle."""
    rows = base_rows()
    return _write(path, _csv_text(rows[:120]) + _csv_text(rows[120:]))


def quoted_newlines(path: Path) -> Path:
    """Quoted notes spanning lines and holding doubled quotes; the amount after them must stay in its row."""
    header = ["customer_id", "order_date", "note", "amount"]
    rows = [[c, d, f'line one\nsaid ""hi"", {c}\nline three' if i % 3 == 0 else "plain", a]
            for i, (c, d, a) in enumerate(base_rows())]
    return _write(path, _csv_text(rows, header))


# ---------------------------------------------------------------- numbers, dates, ids, text


NOTATIONS = {  # amount as written -> value it must be read as (None: rejected)
    '"1.234,56"': None,  # in a decimal-point column: unambiguous decimal comma, read as written (corrected)
    '"1,234.56"': 1234.56, "(12.50)": -12.5, "12.50-": -12.5, '"€ 1 234,56"': 1234.56, "1'234.56": 1234.56,
    "1e3": 1000.0, "NaN": None, "inf": None, "0x10": None, "-": None, "12.5.3": None,
}


def mixed_notations(path: Path) -> Path:
    """One column holding every notation (first row of each customer) among plain decimal-point amounts."""
    lines = ["customer_id,order_date,amount"]
    for index, written in enumerate(NOTATIONS):
        lines.append(f"N{index:02d},2024-02-{index + 1:02d},{written}")
    lines += [",".join(row) for row in base_rows()]
    return _write(path, "\n".join(lines) + "\n")


def mixed_dates(path: Path) -> Path:
    """ISO, day-first with slashes, month names and compact dates in one column."""
    shapes = ["{y}-{m:02d}-{d:02d}", "{d:02d}/{m:02d}/{y}", "{d} {mon} {y}", "{y}{m:02d}{d:02d}"]
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    rows = []
    for index, (customer, iso, amount) in enumerate(base_rows()):
        y, m, d = int(iso[:4]), int(iso[5:7]), int(iso[8:])
        rows.append([customer, shapes[index % 4].format(y=y, m=m, d=d, mon=months[m - 1]), amount])
    return _write(path, _csv_text(rows))


def timezones_dst(path: Path) -> Path:
    """Timestamps with offsets and zone names, some in DST gaps (02:30 on a spring-forward night)."""
    stamps = ["2024-03-10T02:30:00-05:00", "2024-03-31 02:30:00+01:00", "2024-11-03 01:30:00 EDT",
              "2024-03-01 23:30:00 -0500", "2024-06-01T12:00:00Z", "2024-10-27T02:30:00+02:00"]
    rows = [[c, stamps[i % len(stamps)] if i < 60 else f"{d}T10:00:00+00:00", a] for i, (c, d, a) in enumerate(base_rows())]
    return _write(path, _csv_text(rows))


def negative_quantities(path: Path) -> Path:
    header = ["customer_id", "order_date", "quantity", "unit_price"]
    rows = [[c, d, str(-1 if i % 10 == 0 else 1 + i % 3), a] for i, (c, d, a) in enumerate(base_rows())]
    return _write(path, _csv_text(rows, header))


def two_digit_years(path: Path) -> Path:
    rows = [[c, f"{d[5:7]}/{d[8:]}/{d[2:4]}", a] for c, d, a in base_rows()]
    return _write(path, _csv_text(rows))


def future_dates(path: Path) -> Path:
    rows = base_rows()
    rows[5][1], rows[6][1] = "2031-06-01", "2099-12-31"
    return _write(path, _csv_text(rows))


def id_quirks(path: Path) -> Path:
    """Leading zeros (must stay `00123`), whitespace-only ids, emoji and right-to-left names."""
    header = ["customer_id", "name", "order_date", "amount"]
    names = ["Zoë 😀", "محمد", "שלום", "=HYPERLINK(\"x\")", "\u202eevil"]
    rows = []
    for index, (customer, day, amount) in enumerate(base_rows()):
        ident = "00123" if index % 9 == 0 else ("   " if index % 31 == 0 else "0" + customer[1:])
        rows.append([ident, names[index % len(names)], day, amount])
    return _write(path, _csv_text(rows, header))


# ---------------------------------------------------------------- containers


def zip_of_csvs(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("jan.csv", _csv_text(base_rows()[:120]))
        archive.writestr("feb.csv", _csv_text(base_rows()[120:]))
    return path


def xlsx_named_csv(path: Path) -> Path:
    """A real workbook saved with a .csv name."""
    return _openpyxl_book(path, [HEADER] + [[c, d, float(a)] for c, d, a in base_rows()])


def _openpyxl_book(path: Path, rows: list[list[object]], number_format: str | None = None) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Orders"
    for row in rows:
        sheet.append(row)
    if number_format:
        for cell in sheet["B"][1:]:
            cell.number_format = number_format
    target = path if path.suffix == ".xlsx" else path.with_suffix(".tmp.xlsx")
    book.save(target)
    if target != path:
        target.rename(path)
    return path


def xlsx_serial_dates(path: Path) -> Path:
    """Dates stored as Excel serial numbers without a date style (plain numbers 45000...)."""
    import datetime as dt

    epoch = dt.date(1899, 12, 30)
    rows = [[c, (dt.date.fromisoformat(d) - epoch).days, float(a)] for c, d, a in base_rows()]
    return _openpyxl_book(path, [HEADER] + rows)


def xlsx_text_dates_float_ids(path: Path) -> Path:
    """Text dates (`05.01.2024`), customer ids typed as numbers (`123.0`) and a whitespace-only id."""
    rows: list[list[object]] = []
    for index, (c, d, a) in enumerate(base_rows()):
        ident: object = float(int(c[1:]) + 100) if index % 2 else "00" + c[1:]
        rows.append([" " if index == 7 else ident, f"{d[8:]}.{d[5:7]}.{d[:4]}", float(a)])
    return _openpyxl_book(path, [HEADER] + rows)


def xlsx_formulas(path: Path) -> Path:
    """Amounts as formulas (=B*C): openpyxl writes no cached values, so the reader sees formulas only."""
    header = ["customer_id", "order_date", "quantity", "unit_price", "amount"]
    rows: list[list[object]] = [[c, d, 2, float(a), f"=C{i + 2}*D{i + 2}"] for i, (c, d, a) in enumerate(base_rows())]
    return _openpyxl_book(path, [header] + rows)


def xlsx_cached_formulas_and_date_cells(path: Path) -> Path:
    """As Excel saves them: amounts as formulas with their cached results, dates as date-styled cells."""
    import datetime as dt

    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Orders")
    dated = book.add_format({"num_format": "dd/mm/yyyy"})
    for column, name in enumerate(["customer_id", "order_date", "quantity", "unit_price", "amount"]):
        sheet.write_string(0, column, name)
    for index, (customer, day, amount) in enumerate(base_rows(), start=1):
        sheet.write_string(index, 0, customer)
        sheet.write_datetime(index, 1, dt.datetime.fromisoformat(day), dated)
        sheet.write_number(index, 2, 2)
        sheet.write_number(index, 3, float(amount) / 2)
        sheet.write_formula(index, 4, f"=C{index + 1}*D{index + 1}", None, float(amount))
    book.close()
    return path


def xlsx_lying_dimension(path: Path) -> Path:
    """A sheet whose <dimension> claims two rows but which holds 240."""
    body = b"".join(hostile.order_row(i + 2, c, d, a) for i, (c, d, a) in enumerate(base_rows()))
    return hostile.xlsx(path, hostile.sheet_xml(body, dimension="A1:C2"))


def parquet_lying_rows(path: Path) -> Path:
    """Hand-written Parquet whose footer and row group claim 2^40 rows for 3 values."""
    values = [5, 6, 7]
    data = b"".join(struct.pack("<q", value) for value in values)
    s = hostile._struct  # noqa: SLF001  (the Thrift encoder of the first sweep)
    data_page = s([(1, "i32", len(values)), (2, "i32", 0), (3, "i32", 3), (4, "i32", 3)])
    header = s([(1, "i32", 0), (2, "i32", len(data)), (3, "i32", len(data)), (5, "struct", data_page)])
    chunk_bytes = len(header) + len(data)
    claimed = 2**40
    column_meta = s([(1, "i32", 2), (2, "list", ("i32", [0])), (3, "list", ("bin", ["amount"])), (4, "i32", 0),
                     (5, "i64", claimed), (6, "i64", chunk_bytes), (7, "i64", chunk_bytes), (9, "i64", 4)])
    chunk = s([(2, "i64", 4), (3, "struct", column_meta)])
    group = s([(1, "list", ("struct", [chunk])), (2, "i64", chunk_bytes), (3, "i64", claimed)])
    root = s([(4, "bin", "schema"), (5, "i32", 1)])
    leaf = s([(1, "i32", 2), (3, "i32", 0), (4, "bin", "amount")])
    footer = s([(1, "i32", 1), (2, "list", ("struct", [root, leaf])), (3, "i64", claimed), (4, "list", ("struct", [group]))])
    return _write(path, b"PAR1" + header + data + footer + struct.pack("<I", len(footer)) + b"PAR1")


def parquet_lying_footer_length(path: Path) -> Path:
    """A real Parquet file whose footer-length field claims 2 GB."""
    import polars as pl

    pl.DataFrame({"customer_id": ["A", "B"], "order_date": ["2024-01-02", "2024-01-03"], "amount": [1.0, 2.0]}) \
        .write_parquet(path)
    data = bytearray(path.read_bytes())
    data[-8:-4] = struct.pack("<I", 2**31 - 1)
    return _write(path, bytes(data))


SMALL: dict[str, Callable[[Path], Path]] = {
    "utf16le_bom.csv": utf16le_bom, "utf16be_bom.csv": utf16be_bom, "utf8bom_semicolon.csv": utf8_bom_semicolon,
    "nul_inside.csv": nul_inside_line, "wide_20000.csv": wide_columns, "header_repeated.csv": header_repeated,
    "quoted_newlines.csv": quoted_newlines, "mixed_notations.csv": mixed_notations, "mixed_dates.csv": mixed_dates,
    "timezones_dst.csv": timezones_dst, "negative_qty.csv": negative_quantities, "two_digit_years.csv": two_digit_years,
    "future_dates.csv": future_dates, "id_quirks.csv": id_quirks, "several.zip": zip_of_csvs,
    "really_xlsx.csv": xlsx_named_csv, "serial_dates.xlsx": xlsx_serial_dates,
    "text_dates_float_ids.xlsx": xlsx_text_dates_float_ids, "formulas.xlsx": xlsx_formulas,
    "cached_formulas.xlsx": xlsx_cached_formulas_and_date_cells, "lying_dimension.xlsx": xlsx_lying_dimension, "lying_rows.parquet": parquet_lying_rows,
    "lying_footer.parquet": parquet_lying_footer_length,
}


# ---------------------------------------------------------------- large files (only by hand, into /tmp)


def long_line(path: Path, size: int = 200 * 1024**2) -> Path:
    """A header, then one line of ``size`` bytes without a newline."""
    with path.open("wb") as out:
        out.write(b"customer_id,order_date,amount\n")
        block = b"x" * 1024**2
        for _ in range(size // len(block)):
            out.write(block)
    return path


def xlsx_zip_bomb(path: Path, expanded: int = 1024**3) -> Path:
    """A workbook whose sheet inflates ~1000x (blank padding between two rows), written in blocks."""
    hostile.xlsx(path, b"")
    head, tail = hostile.sheet_xml(hostile.order_row(2) + b"@").split(b"@")
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("xl/worksheets/sheet2.xml", "w", force_zip64=True) as sheet:
            sheet.write(head)
            block = b" " * 1024**2
            for _ in range(expanded // len(block)):
                sheet.write(block)
            sheet.write(hostile.order_row(3) + tail)
    # The workbook's relationship names sheet1.xml: move the bomb there (the empty one stays unnamed).
    data = path.read_bytes().replace(b"xl/worksheets/sheet1.xml", b"xl/worksheets/empty0.xml")
    return _write(path, data.replace(b"xl/worksheets/sheet2.xml", b"xl/worksheets/sheet1.xml"))


def gz_of_utf16(path: Path) -> Path:
    with gzip.open(path, "wb") as out:
        out.write(b"\xff\xfe" + _csv_text(base_rows() * 50).encode("utf-16-le"))
    return path


LARGE: dict[str, Callable[[Path], Path]] = {
    "long_line.csv": long_line, "zip_bomb.xlsx": xlsx_zip_bomb, "utf16.csv.gz": gz_of_utf16,
}

COMMANDS: dict[str, list[str]] = {
    "summary": ["--json"], "rfm": ["--json"], "portfolio": ["--json"], "clv": ["--json"],
    "export": ["--segment", "Champions", "--out", "{out}/x.csv"], "report": ["--out", "{out}/r.html"],
    "drivers": ["--json"], "deck": ["--out", "{out}/d.pptx"],
}


def run_cli(command: str, path: Path, out: Path, timeout: int = 120) -> tuple[int, str, str]:
    args = [part.format(out=out) for part in COMMANDS[command]]
    try:
        done = subprocess.run([sys.executable, "-m", "crm_core", command, str(path), *args], capture_output=True,
                              text=True, timeout=timeout, cwd=Path(__file__).resolve().parents[2])
    except subprocess.TimeoutExpired:
        return -999, "", "TIMEOUT"
    return done.returncode, done.stdout, done.stderr


def main(folder: Path, large: bool, only: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    writers = {**SMALL, **(LARGE if large else {})}
    for name, writer in writers.items():
        if only and name not in only:
            continue
        path = writer(folder / name)
        for command in COMMANDS:
            code, out, err = run_cli(command, path, folder)
            first = (err.strip().splitlines() or [""])[0][:160]
            rows = out[:90].replace("\n", " ") if code == 0 else ""
            print(f"{name:28} {command:9} {code:4} {first or rows}", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), "--large" in sys.argv, [a for a in sys.argv[2:] if not a.startswith("--")])
    os._exit(0)
