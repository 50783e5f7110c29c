"""Key findings and the self-contained report: time and peak memory on generated portfolios.

Each step runs in a fresh process (benchmarks.common.measure): the six key
findings (KPIs, concentration, tiers, RFM segments, CLV value, at-risk), the
whole HTML report (findings + data quality + inline Plotly JS), and its PDF
through headless Chromium when /usr/bin/chromium exists. There is no
baseline to compare with: the figures are absolute.
"""
from __future__ import annotations

from pathlib import Path

from benchmarks.common import OUT, measure, report

SIZES = (5_000, 50_000)


def _dataset_folder(customers: int) -> Path:
    from crm_core.dataset import save_dataset
    from crm_core.demo import generate

    folder = OUT / f"report_demo_{customers}"
    if not (folder / "transactions.parquet").exists():
        save_dataset(generate(customers=customers, seed=7), folder)
    return folder


def _findings(folder: str) -> dict:
    from crm_core.dataset import load_dataset
    from crm_core.findings import key_findings

    dataset = load_dataset(Path(folder))
    findings = key_findings(dataset)
    rows = dataset.transactions.select(__import__("polars").len()).collect().item()
    return {"rows": rows, "findings": [f.key for f in findings], "sources": [f.source for f in findings]}


def _report(folder: str) -> dict:
    from crm_core.dataset import load_dataset
    from crm_core.report import build_report

    content = build_report(load_dataset(Path(folder)))
    return {"bytes": len(content.html.encode()), "charts": content.charts}


def _pdf(folder: str) -> dict:
    from crm_core.dataset import load_dataset
    from crm_core.report import build_report, report_pdf_bytes

    return {"pdf_bytes": len(report_pdf_bytes(build_report(load_dataset(Path(folder)))))}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for customers in SIZES:
        folder = str(_dataset_folder(customers))
        seconds, peak, result = measure(_findings, folder)
        report(f"key findings, {customers:,} customers ({result['rows']:,} lines)", (seconds, peak), None)
        print("    computed by", ", ".join(result["sources"]))
        seconds, peak, result = measure(_report, folder)
        report(f"HTML report, {customers:,} customers", (seconds, peak), None)
        print(f"    {result['bytes'] / 1e6:.1f} MB, {result['charts']} charts")
        if Path("/usr/bin/chromium").exists():
            seconds, peak, result = measure(_pdf, folder)
            report(f"HTML + PDF, {customers:,} customers", (seconds, peak), None)
            print(f"    {result['pdf_bytes'] / 1e3:.0f} kB PDF")


if __name__ == "__main__":
    main()
