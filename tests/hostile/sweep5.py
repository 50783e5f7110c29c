"""Fifth hostile sweep (session 13, round 2): shapes sweeps 1-4 did not try.

Each writer makes one small file; ``python tests/hostile/sweep5.py /tmp/sweep5`` writes them all and runs every
CLI command on each (as ``sweep4.py`` does), printing one line per command.
"""
from __future__ import annotations

import io
import os
import sys
import zipfile
from pathlib import Path
from typing import Callable

try:
    from hostile import sweep, sweep4
except ImportError:  # run as a script: the tests folder and the project's root on the path
    sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2])]
    from hostile import sweep, sweep4

_csv, _write = sweep4._csv, sweep4._write  # noqa: SLF001


def _orders(count: int = 60) -> list[tuple[str, str, int]]:
    """(customer, ISO date, index) of ``count`` orders by 12 customers over 2024."""
    return [(f"C{index % 12:03d}", f"2024-{1 + index % 12:02d}-{1 + (index * 5) % 28:02d}", index)
            for index in range(count)]


# ---------------------------------------------------------------- the leftovers of sweep 4


def credit_debit_marks(path: Path) -> Path:
    """Ledger amounts: ``12,00 CR`` / ``12.00 DR`` (credit: money back, negative; debit: a sale)."""
    rows = [["customer_id", "order_date", "amount"]]
    for customer, day, index in _orders():
        rows.append([customer, day, f"{10 + index}.50 DR" if index % 5 else f"{index}.25 CR"])
    rows.append(["C001", "2024-05-05", "7.00Cr"])
    rows.append(["C002", "2024-05-06", "8.00 dr"])
    return _write(path, _csv(rows))


def null_spelled_amounts(path: Path) -> Path:
    """Amounts written as ``NULL``, ``None``, ``N/A``, ``--``, ``nan`` and ``#N/A``: missing, not unreadable."""
    rows = [["customer_id", "order_date", "amount"]]
    spelled = ["NULL", "None", "N/A", "--", "#N/A", "null"]
    for customer, day, index in _orders():
        rows.append([customer, day, spelled[index // 10] if index % 10 == 3 else f"{10 + index}.00"])
    return _write(path, _csv(rows))


# ---------------------------------------------------------------- new shapes


def shopify_first_line_only(path: Path) -> Path:
    """Shopify: only the first line of each order carries Email, dates and Total; later lines blank them."""
    header = ["Name", "Email", "Financial Status", "Paid at", "Created at", "Currency", "Subtotal", "Total",
              "Refunded Amount", "Cancelled at", "Lineitem quantity", "Lineitem name", "Lineitem price"]
    rows = [header]
    for number in range(1, 25):
        created = f"2024-03-{number % 28 + 1:02d} 10:00:00 +0100"
        rows.append([f"#{2000 + number}", f"b{number % 7}@shop.test", "paid", created, created, "EUR",
                     f"{30 + number}.00", f"{35 + number}.00", "0.00", "", "1", "Tea", f"{30 + number}.00"])
        for item in range(number % 3):
            rows.append([f"#{2000 + number}", "", "", "", "", "", "", "", "", "", "1", f"Item {item}", "0.00"])
    return _write(path, _csv(rows))


def dst_local_times(path: Path) -> Path:
    """Local timestamps in and around both 2024 European DST changes (02:30 on 31 March does not exist; 02:30 on
    27 October happens twice), with and without offsets."""
    rows = [["customer_id", "order_date", "amount"]]
    stamps = ["2024-03-31 01:59:59", "2024-03-31 02:30:00", "2024-03-31 03:00:01 +0200", "2024-10-27 02:30:00 +0200",
              "2024-10-27 02:30:00 +0100", "2024-10-26 23:30:00 -0100", "2024-03-30 23:59:59 +0100"]
    for customer, _, index in _orders(42):
        rows.append([customer, stamps[index % len(stamps)], f"{5 + index}.00"])
    return _write(path, _csv(rows))


def kwd_jpy_currencies(path: Path) -> Path:
    """A currency column: KWD with three decimals (``12.345``), JPY with none (``1,234``), USD with two."""
    rows = [["customer_id", "order_date", "amount", "currency"]]
    for customer, day, index in _orders():
        kind = index % 3
        amount = [f"{index}.{(index * 7) % 1000:03d}", f"{1 + index % 9},{(index * 37) % 1000:03d}", f"{index}.99"][kind]
        rows.append([customer, day, amount, ["KWD", "JPY", "USD"][kind]])
    return _write(path, _csv(rows))


def scientific_amounts(path: Path) -> Path:
    """Amounts as spreadsheets print large numbers: ``1.2E+03``, ``4.5e2``, ``1,2E+03`` (decimal comma)."""
    rows = [["customer_id", "order_date", "amount"]]
    for customer, day, index in _orders():
        rows.append([customer, day, ["1.2E+03", "4.5e2", f"{index}.10", "2E+01"][index % 4]])
    return _write(path, _csv(rows))


def excel_mangled_ids(path: Path) -> Path:
    """Customer ids that Excel turned into ``1.23457E+11`` (digits lost: different customers look the same)."""
    rows = [["customer_id", "order_date", "amount"]]
    for _, day, index in _orders():
        customer = f"12345{index % 12:02d}6789"
        rows.append([f"{int(customer[:6]) / 10**5:.5f}E+11" if index % 2 else customer, day, f"{10 + index}.00"])
    return _write(path, _csv(rows))


def epoch_dates(path: Path) -> Path:
    """Order dates as Unix epoch seconds and, in a second file shape, milliseconds (the column's one unit)."""
    rows = [["customer_id", "order_date", "amount"]]
    for customer, _, index in _orders():
        rows.append([customer, str(1704067200 + index * 86400 * 5 + 3600), f"{10 + index}.00"])
    return _write(path, _csv(rows))


def trailing_delimiter(path: Path) -> Path:
    """Every line, the header too, ends with the delimiter (an empty last column)."""
    lines = ["customer_id;order_date;amount;"]
    for customer, day, index in _orders():
        lines.append(f"{customer};{day};{10 + index},50;")
    return _write(path, "\n".join(lines) + "\n")


def semicolon_quoted_thousands(path: Path) -> Path:
    """``;`` separated, decimal comma, thousands quoted (``"1.234,56"``) and unquoted, some with ``€``."""
    lines = ["Kunde;Datum;Betrag"]
    for customer, day, index in _orders():
        value = ['"1.234,56"', f"{index},99", f'"{index + 1}.000,00 €"', f"{index},5"][index % 4]
        lines.append(f"{customer};{day[8:10]}.{day[5:7]}.{day[:4]};{value}")
    return _write(path, "\n".join(lines) + "\n")


def zero_width_spaces(path: Path) -> Path:
    """Zero-width and no-break spaces pasted from a web page: inside ids (``C001\\u200b``) and amounts."""
    rows = [["customer_id", "order_date", "amount"]]
    for customer, day, index in _orders():
        if index % 5 == 1:
            customer = customer + "\u200b"
        if index % 5 == 2:
            customer = "\ufeff" + customer
        amount = [f"{10 + index}.00", f"\u200b{10 + index}.00", f"{10 + index}.00\u200b", f"1\u00a0{index:03d}.00"][index % 4]
        rows.append([customer, day, amount])
    return _write(path, _csv(rows))


def header_again_other_order(path: Path) -> Path:
    """Two exports pasted together, the second with its columns in another order (amount before date)."""
    rows = [["customer_id", "order_date", "amount"]]
    orders = _orders()
    for customer, day, index in orders[:30]:
        rows.append([customer, day, f"{10 + index}.00"])
    rows.append(["amount", "customer_id", "order_date"])
    for customer, day, index in orders[30:]:
        rows.append([f"{10 + index}.00", customer, day])
    return _write(path, _csv(rows))


def patched_workbook(path: Path, rows: list[list], patch: Callable[[str, bytes], bytes]) -> Path:
    """Write ``rows`` as a one-sheet workbook at ``path``, each part passed through ``patch(name, data)``."""
    import xlsxwriter

    made = path.with_suffix(".tmp.xlsx")
    book = xlsxwriter.Workbook(str(made))
    sheet = book.add_worksheet("Orders")
    for row, values in enumerate(rows):
        sheet.write_row(row, 0, values)
    book.close()
    out = io.BytesIO()
    with zipfile.ZipFile(made) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            target.writestr(item.filename, patch(item.filename, source.read(item.filename)))
    made.unlink()
    return _write(path, out.getvalue())


def _claim_billions(name: str, data: bytes) -> bytes:
    if name == "xl/sharedStrings.xml":
        head, rest = data.decode().split("<sst ", 1)
        attributes, body = rest.split(">", 1)
        attributes = " ".join(part for part in attributes.split() if not part.startswith(("count=", "uniqueCount=")))
        return f'{head}<sst {attributes} count="2147483647" uniqueCount="2147483647">{body}'.encode()
    if name == "xl/worksheets/sheet1.xml":
        return data.replace(b'<dimension ref="A1:C61"/>', b'<dimension ref="A1:C1048576"/>')
    return data


def xlsx_lying_shared_strings(path: Path) -> Path:
    """A workbook whose shared strings table claims two billion strings and whose sheet claims a million rows."""
    rows = [["customer_id", "order_date", "amount"], *([c, d, 10 + i] for c, d, i in _orders())]
    return patched_workbook(path, rows, _claim_billions)


def zip_path_traversal(path: Path) -> Path:
    """A zip holding one CSV stored under ``../../tmp/evil.csv`` (and an absolute twin name in a second zip
    would be refused as several files)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("../../../tmp/crm_sweep5_evil.csv", sweep._csv_text(sweep.base_rows()))  # noqa: SLF001
    return _write(path, out.getvalue())


def order_lines_first_only(path: Path) -> Path:
    """A generic order-lines export (no vendor's names): customer and date on each order's first line only; one
    order's lines name two customers (left as it is), one continuation line has an unreadable date."""
    rows = [["Order ID", "Customer", "Date", "Line Amount", "Product"]]
    for number in range(1, 21):
        for item in range(1 + number % 3):
            first = item == 0
            rows.append([str(9000 + number), f"K{number % 5}" if first else "", f"2024-06-{number:02d}" if first else "",
                         f"{5 + item}.00", ["Tea", "Cup", "Lid"][item]])
    rows.append(["9002", "K9", "2024-06-02", "1.00", "Gift"])  # order 9002 now names K2 and K9
    rows.append(["9005", "", "June 5th", "2.00", "Spoon"])  # a continuation line whose date cannot be read
    return _write(path, _csv(rows))


FILES: dict[str, Callable[[Path], Path]] = {
    "order_lines_first_only.csv": order_lines_first_only,
    "credit_debit.csv": credit_debit_marks,
    "null_amounts.csv": null_spelled_amounts,
    "shopify_first_line.csv": shopify_first_line_only,
    "dst_local.csv": dst_local_times,
    "kwd_jpy.csv": kwd_jpy_currencies,
    "scientific.csv": scientific_amounts,
    "mangled_ids.csv": excel_mangled_ids,
    "epoch.csv": epoch_dates,
    "trailing_delimiter.csv": trailing_delimiter,
    "semicolon_quoted.csv": semicolon_quoted_thousands,
    "zero_width.csv": zero_width_spaces,
    "header_other_order.csv": header_again_other_order,
    "lying_sst.xlsx": xlsx_lying_shared_strings,
    "traversal.zip": zip_path_traversal,
}


def main(folder: Path, only: list[str]) -> None:
    sweep4.main(folder, only, FILES)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
    os._exit(0)
