"""Sixth hostile sweep (session 14): shapes sweeps 1-5 did not try, and a batched read's leftover.

Each writer makes one small file; ``python tests/hostile/sweep6.py /tmp/sweep6`` writes them all and runs every
CLI command on each, ``append`` included (as ``sweep4.py`` does), printing one line per command.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

try:
    from hostile import sweep4
except ImportError:  # run as a script: the tests folder and the project's root on the path
    sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2])]
    from hostile import sweep4

_csv, _write = sweep4._csv, sweep4._write  # noqa: SLF001


def order_lines_across_batches(path: Path) -> Path:
    """Order lines with the customer and date on an order's first line only (no product column, so a large file
    is read in batches): an order whose continuation line comes before its first line, one whose first line
    is the file's last, one naming two customers, one whose only named line has an unreadable amount."""
    rows = [["Order ID", "Customer", "Date", "Line Amount"]]
    for number in range(1, 41):
        for item in range(1 + number % 3):
            first = item == 0
            rows.append([str(9000 + number), f"K{number % 5}" if first else "",
                         f"2024-06-{number % 28 + 1:02d}" if first else "", f"{5 + item}.00"])
    rows.insert(3, ["9041", "", "", "4.00"])  # before its order's first line
    rows.append(["9002", "K9", "2024-06-03", "1.00"])  # 9002 now names K2 and K9: its blank lines stay blank
    rows.append(["9005", "", "June 5th", "2.00"])  # an unreadable date is never filled
    rows.append(["9007", "", "", "x"])  # filled, then set aside for its amount
    rows.append(["9041", "K1", "2024-06-20", "abc"])  # a rejected line still names its order's customer
    rows.append(["9050", "", "", "3.00"])  # an order no line names
    return _write(path, _csv(rows))


def zero_decimal_currencies(path: Path) -> Path:
    """A currency column: USD with cents (``12.99``), JPY and KRW written with a thousands separator (``1,234``:
    only 1,234 yen can be meant, yen have no fractions), JPY ``2,000`` (2,000 or 2: both whole), KWD ``1,234``
    (3 decimals: 1.234 dinars is a real amount) and a row without a currency."""
    rows = [["customer_id", "order_date", "amount", "currency"]]
    for index in range(30):
        customer, day = f"C{index % 7}", f"2024-03-{1 + index % 28:02d}"
        kind = index % 3
        amount = [f"{index}.99", f"{1 + index % 9},{(index * 37) % 1000:03d}", f"{2 + index % 5},{(index * 53) % 1000:03d}"][kind]
        rows.append([customer, day, amount, ["USD", "JPY", "KRW"][kind]])
    rows += [["C1", "2024-04-01", "2,000", "JPY"], ["C2", "2024-04-02", "1,234", "KWD"],
             ["C3", "2024-04-03", "3,456", ""], ["C4", "2024-04-04", "5,678", "USD"]]
    return _write(path, _csv(rows))


def zero_decimal_by_style(path: Path) -> Path:
    """Only yen, ``;``-separated: no amount says which mark is the decimal, so the file's style (decimal comma)
    would read ``1.234`` as 1,234 and ``1,234`` as 1.234 yen; the column's name states the currency."""
    rows = [["Kunde", "Datum", "Betrag (JPY)"]]
    for index in range(20):
        rows.append([f"K{index % 4}", f"{1 + index % 28:02d}.05.2024", [f"{1 + index % 9}.{index * 41 % 1000:03d}",
                                                                      f"{1 + index % 9},{index * 43 % 1000:03d}", "980"][index % 3]])
    return _write(path, _csv(rows, ";"))


def swiss_no_cents(path: Path) -> Path:
    """Swiss and German prices: no cents written as a dash after the decimal mark (``12.–``, ``1'234.–``,
    ``-5,–``), read as minus signs (``12.–`` was -12); ``12.-`` with a hyphen could be that or SAP's trailing
    minus; ``1.234,56-`` is SAP's."""
    rows = [["Kunde", "Datum", "Betrag"]]
    amounts = ["12,–", "1.234,–", "-5,–", "7,50", "12,-", "1.234,56-", "3,—", "12,– €"]
    for index in range(24):
        rows.append([f"K{index % 4}", f"{1 + index % 28:02d}.03.2024", amounts[index % len(amounts)]])
    return _write(path, _csv(rows, ";"))


def currency_twice(path: Path) -> Path:
    """A currency column saying EUR beside amounts written ``12.50 USD`` or ``£9.00`` (which one is meant?), and
    ``$14.00`` beside CAD (a shared symbol: dollars of the row's currency)."""
    rows = [["customer_id", "order_date", "amount", "currency"]]
    amounts = [("12.50 USD", "EUR"), ("13.00", "EUR"), ("£9.00", "EUR"), ("$14.00", "CAD"), ("EUR 15.00", "EUR"),
               ("¥980", "CNY")]
    for index in range(24):
        amount, currency = amounts[index % len(amounts)]
        rows.append([f"C{index % 5}", f"2024-02-{1 + index:02d}", amount, currency])
    return _write(path, _csv(rows))


def dated_total_rows(path: Path) -> Path:
    """An ERP report: subtotal rows every seventh order and a grand total, each with a date and an amount in the
    customer's column (read as a customer called "Subtotal", revenue counted twice); and a real customer called
    Total, whose amount sums nothing."""
    rows = [["customer_id", "order_date", "amount"]]
    subtotal = grand = 0.0
    for index in range(20):
        amount = 10 + index + 0.1 * (index % 3)
        day = f"2024-02-{1 + index:02d}"
        rows.append([f"C{index % 5}", day, f"{amount:.2f}"])
        subtotal, grand = subtotal + amount, grand + amount
        if index % 7 == 6:
            rows.append(["Subtotal", day, f"{subtotal:.2f}"])
            subtotal = 0.0
    rows.append(["Grand Total", "2024-02-29", f"{grand:.2f}"])
    rows.append(["Total", "2024-03-01", "12.00"])
    return _write(path, _csv(rows))


def two_row_header_workbook(path: Path) -> Path:
    """An ERP's workbook: ``Amount`` merged over ``net`` and ``gross``, the other names merged down two rows (no
    header was found: columns guessed from the values, the net amount taken for a quantity, gross for the amount)."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Orders")
    sheet.merge_range("A1:A2", "Customer")
    sheet.merge_range("B1:B2", "Order date")
    sheet.merge_range("C1:D1", "Amount")
    sheet.write_row(1, 2, ["net", "gross"])
    for row in range(1, 21):
        sheet.write_row(row + 1, 0, [f"P{row % 4}", f"2024-01-{row:02d}", row + 0.5, (row + 0.5) * 1.2])
    book.close()
    return path


def two_row_header_csv(path: Path) -> Path:
    """The same two-row header saved as CSV (the merged names in their first cell, blanks beside and below)."""
    rows = [["Customer", "Order date", "Amount", ""], ["", "", "net", "gross"]]
    rows += [[f"P{row % 4}", f"2024-01-{row:02d}", f"{row}.50", f"{row * 2}.00"] for row in range(1, 21)]
    return _write(path, _csv(rows))


def square_transactions(path: Path) -> Path:
    """Square's transactions export: ``Net Sales`` beside ``Partial Refunds`` (nothing read them: silent), refunds
    as ``Event Type`` Refund rows with negative amounts, walk-in sales without a customer."""
    rows = [["Date", "Time", "Time Zone", "Gross Sales", "Discounts", "Net Sales", "Tax", "Partial Refunds",
             "Total Collected", "Source", "Transaction ID", "Customer ID", "Customer Name", "Event Type"]]
    for index in range(30):
        refund = index % 10 == 9
        sign, gross = "-" if refund else "", 20 + index
        discount = 2 if index % 4 == 0 else 0
        rows.append([f"2024-03-{1 + index % 28:02d}", "10:15:00", "Eastern Time (US & Canada)", f"{sign}${gross}.00",
                     f"-${discount}.00", f"{sign}${gross - discount}.00", f"{sign}$1.60",
                     "-$5.00" if index % 7 == 3 else "$0.00", f"{sign}${gross - discount + 1.6:.2f}", "Point of Sale",
                     f"T{index:04d}", f"CUST{index % 6}" if index % 5 else "", f"Name {index % 6}",
                     "Refund" if refund else "Payment"])
    return _write(path, _csv(rows))


FILES: dict[str, Callable[[Path], Path]] = {
    "order_lines_batches.csv": order_lines_across_batches,
    "zero_decimal.csv": zero_decimal_currencies,
    "zero_decimal_style.csv": zero_decimal_by_style,
    "swiss_no_cents.csv": swiss_no_cents,
    "currency_twice.csv": currency_twice,
    "dated_totals.csv": dated_total_rows,
    "two_row_header.xlsx": two_row_header_workbook,
    "two_row_header.csv": two_row_header_csv,
    "square.csv": square_transactions,
}


def main(folder: Path, only: list[str]) -> None:
    sweep4.main(folder, only, FILES)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
    os._exit(0)
