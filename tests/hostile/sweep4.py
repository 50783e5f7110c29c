"""Fourth hostile sweep (session 13): vendor-shaped exports and notations the first three did not try.

Each writer makes one small file; ``python tests/hostile/sweep4.py /tmp/sweep4`` writes them all and runs every
CLI command on each (as ``sweep.py`` does), printing one line per command.
"""
from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import os
import sys
import zipfile
from pathlib import Path
from typing import Callable

try:
    from hostile import sweep
except ImportError:  # run as a script: the tests folder and the project's root on the path
    sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2])]
    from hostile import sweep

EPOCH = dt.date(1899, 12, 30)


def _csv(rows: list[list[str]], delimiter: str = ",", line_end: str = "\n", quoting: int = csv.QUOTE_MINIMAL) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator=line_end, quoting=quoting).writerows(rows)
    return out.getvalue()


def _write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _days(count: int) -> list[dt.date]:
    return [dt.date(2024, 1, 1) + dt.timedelta(days=(index * 7) % 300) for index in range(count)]


# ---------------------------------------------------------------- the two leftovers of session 12


def xlsx_serials_among_text_dates(path: Path) -> Path:
    """Order dates as text (``DD.MM.YYYY``), every third one a number cell holding the Excel serial, one a date
    cell; and one text cell ``45000`` (a number written as text: not a date in this column's notation)."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Orders")
    dated = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, ["customer_id", "order_date", "amount"])
    for index, day in enumerate(_days(40)):
        sheet.write_string(index + 1, 0, f"C{index % 7}")
        if index == 4:
            sheet.write_datetime(index + 1, 1, dt.datetime(day.year, day.month, day.day, 18, 30), dated)
        elif index % 3 == 0:
            sheet.write_number(index + 1, 1, (day - EPOCH).days + (0.75 if index == 9 else 0))
        else:
            sheet.write_string(index + 1, 1, day.strftime("%d.%m.%Y"))
        sheet.write_number(index + 1, 2, 10 + index)
    sheet.write_string(41, 0, "CX")
    sheet.write_string(41, 1, "45000")
    sheet.write_number(41, 2, 5)
    book.close()
    return path


def xlsx_text_dates_among_serials(path: Path) -> Path:
    """The other way round: most dates are number cells (serials), a few are text ``13/01/2024``."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Orders")
    sheet.write_row(0, 0, ["customer_id", "order_date", "amount"])
    for index, day in enumerate(_days(40)):
        sheet.write_string(index + 1, 0, f"C{index % 7}")
        if index % 8 == 5:
            sheet.write_string(index + 1, 1, day.strftime("%d/%m/%Y"))
        else:
            sheet.write_number(index + 1, 1, (day - EPOCH).days)
        sheet.write_number(index + 1, 2, 10 + index)
    book.close()
    return path


def status_refunds_late(path: Path, rows: int = 6000) -> Path:
    """A status column that says "completed" for the first rows (the whole sample) and "refunded" further down."""
    lines = [["customer_id", "order_date", "amount", "status"]]
    for index in range(rows):
        day = dt.date(2024, 1, 1) + dt.timedelta(days=index % 300)
        status = "refunded" if index >= rows - 3 else "completed"
        lines.append([f"C{index % 97:03d}", day.isoformat(), f"{10 + index % 50}.50", status])
    return _write(path, _csv(lines))


# ---------------------------------------------------------------- vendor-shaped


def shopify_refunds_cancellations(path: Path) -> Path:
    """Shopify: multi-line orders, a partial refund, a full refund, a cancelled order, a voided one."""
    header = ["Name", "Email", "Financial Status", "Paid at", "Created at", "Currency", "Subtotal", "Shipping", "Taxes",
              "Total", "Refunded Amount", "Cancelled at", "Lineitem quantity", "Lineitem name", "Lineitem price"]
    rows = [header]
    for number in range(1, 31):
        email = f"buyer{number % 9}@shop.test"
        status, refunded, cancelled = "paid", "0.00", ""
        if number == 5:
            status, refunded = "partially_refunded", "10.00"
        if number == 6:
            status, refunded = "refunded", "55.00"
        if number == 7:
            cancelled = "2024-02-08 10:00:00 +0100"
        if number == 8:
            status = "voided"
        created = f"2024-02-{number % 28 + 1:02d} 09:{number:02d}:00 +0100"
        rows.append([f"#{1000 + number}", email, status, created, created, "EUR", "50.00", "5.00", "0.00", "55.00",
                     refunded, cancelled, "1", "Tea", "20.00"])
        rows.append([f"#{1000 + number}", "", "", "", created, "", "", "", "", "", "", "", "2", "Cup", "15.00"])
    return _write(path, _csv(rows))


def woocommerce_refund_rows(path: Path) -> Path:
    """WooCommerce-like export without the plugin's column names: refunds are rows of their own (type
    shop_order_refund) referencing the order id, with negative totals."""
    rows = [["Order ID", "Parent Order", "Type", "Order Date", "Customer Email", "Order Total", "Order Status"]]
    for number in range(1, 41):
        rows.append([str(500 + number), "", "shop_order", f"2024-03-{number % 28 + 1:02d} 12:00:00",
                     f"c{number % 11}@woo.test", f"{30 + number}.00", "wc-completed"])
    for number in (3, 17, 29):
        rows.append([str(900 + number), str(500 + number), "shop_order_refund", f"2024-04-{number % 28 + 1:02d} 12:00:00",
                     f"c{number % 11}@woo.test", f"-{10 + number}.00", "wc-completed"])
    return _write(path, _csv(rows))


def stripe_currencies_and_refunds(path: Path) -> Path:
    """Stripe payments: Paid, Refunded, Failed, partial refunds, two currencies, amounts with a decimal comma."""
    rows = [["id", "Created date (UTC)", "Amount", "Amount Refunded", "Currency", "Status", "Customer ID",
             "Customer Email"]]
    for number in range(1, 41):
        status = "Failed" if number % 10 == 0 else "Refunded" if number % 13 == 0 else "Paid"
        refunded = "5.00" if number % 7 == 0 else "0.00"
        rows.append([f"ch_{number:04d}", f"2024-05-{number % 28 + 1:02d} 08:15:00", f"{40 + number}.00", refunded,
                     "usd" if number % 4 else "eur", status, f"cus_{number % 9}", f"p{number % 9}@stripe.test"])
    return _write(path, _csv(rows))


def amazon_like_tab(path: Path) -> Path:
    """An Amazon-like order report: tab-separated, ISO timestamps with offsets, an order-status column with
    Cancelled orders, item price and quantity."""
    rows = [["amazon-order-id", "purchase-date", "order-status", "buyer-email", "quantity", "item-price", "currency"]]
    for number in range(1, 41):
        status = "Cancelled" if number % 9 == 0 else "Shipped"
        rows.append([f"114-{number:07d}", f"2024-06-{number % 28 + 1:02d}T23:{number:02d}:00+00:00", status,
                     f"a{number % 8}@marketplace.test", str(1 + number % 3), f"{12 + number}.99", "USD"])
    return _write(path, _csv(rows, "\t"))


def order_total_on_every_line(path: Path) -> Path:
    """A generic order-lines export (no vendor's names): the order's total repeated on each of its lines."""
    rows = [["Order ID", "Customer", "Date", "Order Total", "Product", "Qty"]]
    for number in range(1, 21):
        for item in range(1 + number % 3):
            rows.append([str(7000 + number), f"L{number % 6}", f"2024-09-{number:02d}", f"{20 + number}.00",
                         ["Tea", "Cup", "Pot"][item], "1"])
    return _write(path, _csv(rows))


# ---------------------------------------------------------------- numbers


def euro_after_number(path: Path) -> Path:
    """``;``-separated, amounts with the euro sign after the number, thousands with (narrow) no-break spaces,
    credits in parentheses, one ``12,00 CR`` (an accounting credit: not a number this reader knows)."""
    amounts = ["12,50 €", "1\u00a0234,50 €", "1\u202f234,50\u00a0€", "(12,00 €)", "-7,25 €", "0,99€", "12,00 CR"]
    rows = [["Kunde", "Datum", "Betrag"]]
    for index in range(42):
        rows.append([f"K{index % 6}", f"{index % 28 + 1:02d}.03.2024", amounts[index % len(amounts)]])
    return _write(path, _csv(rows, ";"))


def _amounts_file(path: Path, prefix: str, amounts: list[str]) -> Path:
    """36 orders of five customers (``prefix`` + 0-4) in July 2024, their amounts taken from ``amounts`` in turn."""
    rows = [["customer_id", "order_date", "amount"]]
    for index in range(36):
        rows.append([f"{prefix}{index % 5}", f"2024-07-{index % 28 + 1:02d}", amounts[index % len(amounts)]])
    return _write(path, _csv(rows))


def accounting_negatives(path: Path) -> Path:
    """US accounting exports: credits in parentheses with the currency outside them (``$(12.50)``,
    ``USD (1,234.00)``), beside ``($7.25)`` and plain amounts."""
    amounts = ["$(12.50)", "USD (1,234.00)", "($7.25)", "$40.00", "$1,000.00", "(3.00)"]
    return _amounts_file(path, "U", amounts)


def apostrophe_thousands(path: Path) -> Path:
    """Swiss amounts: ``1'234.50``, ``CHF 1'234.50``, ``1’234.50`` (typographic apostrophe), ``-1'000.00``."""
    amounts = ["1'234.50", "CHF 1'234.50", "1\u2019234.50", "-1'000.00", "250.00", "12'345'678.90"]
    return _amounts_file(path, "S", amounts)


def negative_quantity_and_price(path: Path) -> Path:
    """Quantity x unit price where returns are written as a negative quantity, a negative price, or both
    (minus times minus must not become a sale)."""
    rows = [["customer_id", "order_date", "quantity", "unit_price"]]
    for index in range(30):
        quantity, price = str(1 + index % 3), f"{5 + index}.00"
        if index % 10 == 3:
            quantity = "-" + quantity
        if index % 10 == 5:
            price = "-" + price
        if index % 10 == 7:
            quantity, price = "-" + quantity, "-" + price
        rows.append([f"Q{index % 4}", f"2024-08-{index % 28 + 1:02d}", quantity, price])
    return _write(path, _csv(rows))


# ---------------------------------------------------------------- dates


def dates_rfc2822_and_dst(path: Path) -> Path:
    """E-mail style timestamps (``Sun, 10 Mar 2024 02:30:00 -0500``) across a DST change."""
    rows = [["customer_id", "order_date", "amount"]]
    for index in range(30):
        day = dt.date(2024, 3, 1) + dt.timedelta(days=index)
        stamp = day.strftime("%a, %d %b %Y") + (" 02:30:00 -0500" if index % 2 else " 23:59:59 +0100")
        rows.append([f"R{index % 5}", stamp, f"{20 + index}.00"])
    return _write(path, _csv(rows))


def zone_names(path: Path) -> Path:
    """Timestamps with the zone's name: Go's ``2024-03-10 02:30:00 +0000 UTC``, an IANA name, Java's
    ``+05:30[Asia/Kolkata]``; one order late in the evening, whose date stays as written."""
    stamps = ["{d} 02:30:00.123456789 +0000 UTC", "{d} 23:30:00 America/New_York", "{d}T02:30:00+05:30[Asia/Kolkata]"]
    rows = [["customer_id", "order_date", "amount"]]
    for index in range(30):
        day = dt.date(2024, 3, 1) + dt.timedelta(days=index)
        rows.append([f"Z{index % 5}", stamps[index % 3].format(d=day.isoformat()), f"{20 + index}.00"])
    return _write(path, _csv(rows))


def two_digit_years_with_times(path: Path) -> Path:
    """US two-digit years with 12-hour times (``3/10/24 2:30 AM``), as Excel writes a CSV in the US."""
    rows = [["customer_id", "order_date", "amount"]]
    for index in range(30):
        day = dt.date(2024, 1, 1) + dt.timedelta(days=index * 11)
        rows.append([f"T{index % 5}", f"{day.month}/{day.day}/{day.year % 100:02d} {1 + index % 12}:30 {'AM' if index % 2 else 'PM'}",
                     f"{15 + index}.00"])
    return _write(path, _csv(rows))


# ---------------------------------------------------------------- layout and bytes


def title_rows_and_total(path: Path) -> Path:
    """A report: title lines above the header, a blank line, the orders, then a "Total" line and a footer."""
    rows = [["customer_id", "order_date", "amount"]] + [[c, d, a] for c, d, a in sweep.base_rows()[:30]]
    total = sum(float(a) for _, _, a in sweep.base_rows()[:30])
    text = "Sales report\nGenerated 2024-12-01 by ShopX\n\n" + _csv(rows) + f"Total,,{total:.2f}\n,,\nEnd of report\n"
    return _write(path, text)


def separator_line_lies(path: Path) -> Path:
    """Excel's ``sep=;`` first line above rows separated by commas (a file edited by hand or by a script)."""
    rows = [["customer_id", "order_date", "amount"]] + [[c, d, a] for c, d, a in sweep.base_rows()[:30]]
    return _write(path, "sep=;\n" + _csv(rows))


def latin1_semicolon_cr(path: Path) -> Path:
    """cp1252 bytes (``€`` is 0x80), ``;`` separated, old-Mac CR line ends, a quoted note spanning lines."""
    rows = [["Client", "Date", "Montant", "Note"]]
    for index in range(30):
        note = "livré\nle soir" if index % 5 == 0 else "ok"
        rows.append([f"Clé{index % 6}", f"{index % 28 + 1:02d}/09/2024", f"{index + 1},50 €", note])
    return _write(path, _csv(rows, ";", "\r", csv.QUOTE_ALL).encode("cp1252"))


def utf8_bom_on_cp1252(path: Path) -> Path:
    """A cp1252 file (``é`` is one byte, 0xE9) that a tool prefixed with the UTF-8 byte-order mark."""
    rows = [["customer_id", "order_date", "amount"]]
    for index in range(30):
        rows.append([["Clé", "Clè", "Cle"][index % 3] + str(index % 2), f"2024-05-{index % 28 + 1:02d}", f"{index + 1}.50"])
    return _write(path, b"\xef\xbb\xbf" + _csv(rows).encode("cp1252"))


def utf16_bom_on_utf8(path: Path) -> Path:
    """A UTF-8 file that a tool prefixed with the UTF-16 LE byte-order mark."""
    rows = [["customer_id", "order_date", "amount"]] + [[c, d, a] for c, d, a in sweep.base_rows()[:30]]
    return _write(path, b"\xff\xfe" + _csv(rows).encode("utf-8"))


def utf16_tab_no_bom(path: Path) -> Path:
    """UTF-16 LE without a byte-order mark, tab separated (as some Excel "Unicode text" saves)."""
    rows = [["customer_id", "order_date", "amount"]] + [[c, d, a] for c, d, a in sweep.base_rows()[:50]]
    return _write(path, _csv(rows, "\t", "\r\n").encode("utf-16-le"))


def duplicate_header_names(path: Path) -> Path:
    """Two ``Date`` columns (order date, then ship date) and two ``Amount`` columns (net, then gross)."""
    rows = [["Customer", "Date", "Amount", "Date", "Amount"]]
    for index in range(30):
        rows.append([f"D{index % 5}", f"2024-10-{index % 28 + 1:02d}", f"{10 + index}.00",
                     f"2024-11-{index % 28 + 1:02d}", f"{12 + index}.10"])
    return _write(path, _csv(rows))


def case_twins_and_index(path: Path) -> Path:
    """A pandas ``to_csv`` with its index (an unnamed first column) and two amount columns whose names differ
    only in case: ``amount`` (net) and ``Amount`` (gross)."""
    rows = [["", "customer_id", "order_date", "amount", "Amount"]]
    for index in range(30):
        rows.append([str(index), f"P{index % 5}", f"2024-12-{index % 28 + 1:02d}", f"{10 + index}.00", f"{12 + index}.00"])
    return _write(path, _csv(rows))


def xlsx_sheets_and_merged(path: Path) -> Path:
    """A workbook: a pivot-like "Summary" sheet first, then "Orders" whose customer cells are merged over
    each customer's orders (only the first row of a merged range holds the value)."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    summary = book.add_worksheet("Summary")
    summary.write_row(0, 0, ["Region", "Revenue"])
    summary.write_row(1, 0, ["North", 1234.5])
    orders = book.add_worksheet("Orders")
    orders.write_row(0, 0, ["customer_id", "order_date", "amount"])
    row = 1
    for customer in range(6):
        count = 1 + customer % 3
        if count > 1:
            orders.merge_range(row, 0, row + count - 1, 0, f"M{customer}")
        else:
            orders.write_string(row, 0, f"M{customer}")
        for offset in range(count):
            orders.write_string(row + offset, 1, f"2024-02-{row + offset:02d}")
            orders.write_number(row + offset, 2, 10.0 * (row + offset))
        row += count
    book.close()
    return path


def xlsx_hidden_copy(path: Path) -> Path:
    """A workbook whose visible "Orders" sheet has a hidden "Backup & old" copy with the same columns."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    for name, hidden in (("Orders", False), ("Backup & old", True)):
        sheet = book.add_worksheet(name)
        sheet.write_row(0, 0, ["customer_id", "order_date", "amount"])
        for index in range(10):
            sheet.write_row(index + 1, 0, [f"H{index % 3}", f"2024-01-{index + 1:02d}", 10.0 + index])
        if hidden:
            sheet.hide()
    book.close()
    return path


def zip_from_macos(path: Path) -> Path:
    """A zip made by macOS' Finder: the CSV, a folder entry and its ``__MACOSX/._orders.csv`` resource fork."""
    text = sweep._csv_text(sweep.base_rows()[:40])  # noqa: SLF001
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export/", b"")
        archive.writestr("export/orders.csv", text)
        archive.writestr("__MACOSX/export/._orders.csv", b"\x00\x05\x16\x07" + b"\x00" * 60)
    return path


def gzip_lying_size(path: Path) -> Path:
    """A gzip of a cp1252 CSV whose trailer (ISIZE) claims 12 bytes."""
    text = sweep._csv_text(sweep.base_rows()[:60]).replace("C0", "Cé0").encode("cp1252")  # noqa: SLF001
    data = bytearray(gzip.compress(text))
    data[-4:] = (12).to_bytes(4, "little")
    return _write(path, bytes(data))


FILES: dict[str, Callable[[Path], Path]] = {
    "serials_among_text.xlsx": xlsx_serials_among_text_dates,
    "text_among_serials.xlsx": xlsx_text_dates_among_serials,
    "status_refunds_late.csv": status_refunds_late,
    "shopify_refunds.csv": shopify_refunds_cancellations,
    "woo_refund_rows.csv": woocommerce_refund_rows,
    "stripe_currencies.csv": stripe_currencies_and_refunds,
    "amazon_like.txt": amazon_like_tab,
    "order_total_lines.csv": order_total_on_every_line,
    "euro_after.csv": euro_after_number,
    "apostrophes.csv": apostrophe_thousands,
    "accounting_negatives.csv": accounting_negatives,
    "negative_qty_price.csv": negative_quantity_and_price,
    "rfc2822_dst.csv": dates_rfc2822_and_dst,
    "zone_names.csv": zone_names,
    "two_digit_times.csv": two_digit_years_with_times,
    "title_total.csv": title_rows_and_total,
    "sep_line_lies.csv": separator_line_lies,
    "latin1_cr.csv": latin1_semicolon_cr,
    "utf16_nobom.tsv": utf16_tab_no_bom,
    "utf8_bom_on_cp1252.csv": utf8_bom_on_cp1252,
    "utf16_bom_on_utf8.csv": utf16_bom_on_utf8,
    "duplicate_headers.csv": duplicate_header_names,
    "case_twins.csv": case_twins_and_index,
    "sheets_merged.xlsx": xlsx_sheets_and_merged,
    "hidden_copy.xlsx": xlsx_hidden_copy,
    "macos.zip": zip_from_macos,
    "lying_size.csv.gz": gzip_lying_size,
}


def dataset(folder: Path) -> Path:
    """A saved dataset (the second sweep's orders) to append the hostile files to."""
    from crm_core.dataset import Dataset, save_dataset
    from crm_core.ingest import read_orders

    source = _write(folder / "base_orders.csv", sweep._csv_text(sweep.base_rows()))  # noqa: SLF001
    tx, _ = read_orders(source)
    save_dataset(Dataset(transactions=tx), folder / "dataset")
    return folder / "dataset"


def run_append(saved: Path, path: Path, timeout: int = 120) -> tuple[int, str, str]:
    """``append`` of ``path`` to a fresh copy of ``saved`` (each file appended to the same orders)."""
    import shutil
    import subprocess

    target = saved.with_name(f"dataset_{path.name}")
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(saved, target)
    done = subprocess.run([sys.executable, "-m", "crm_core", "append", str(target), str(path), "--json"],
                          capture_output=True, text=True, timeout=timeout, cwd=Path(__file__).resolve().parents[2])
    return done.returncode, done.stdout, done.stderr


def main(folder: Path, only: list[str], files: dict | None = None) -> None:
    """Write each hostile file (``files``, default this sweep's) into ``folder`` and run every command on it,
    ``append`` into a copy of a saved dataset included; one line per file and command."""
    folder.mkdir(parents=True, exist_ok=True)
    saved = dataset(folder)
    for name, writer in (FILES if files is None else files).items():
        if only and name not in only:
            continue
        path = writer(folder / name)
        for command in [*sweep.COMMANDS, "append"]:
            if command == "append":
                code, out, err = run_append(saved, path)
            else:
                code, out, err = sweep.run_cli(command, path, folder)
            first = (err.strip().splitlines() or [""])[0][:200]
            shown = out[:200].replace("\n", " ")
            print(f"{name:26} {command:9} {code:4} {first or shown}", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
    os._exit(0)
