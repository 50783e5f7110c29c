"""CLI subcommands: each module defines ``add_arguments(parser)`` and ``run(args) -> int``.

``COMMANDS`` maps each command to its one-line help, so that ``python -m crm_core --help``
and the parser for one command never import the other commands (and their scipy, Plotly
or report dependencies): a command pays only for what it uses.
"""
COMMANDS: dict[str, str] = {
    "summary": "what was read from an order export and its headline totals",
    "demo": "generate the synthetic demo portfolio (Parquet folder, or a CSV of orders)",
    "portfolio": "revenue concentration (top 20% share, Gini) and value tiers of an order export",
    "rfm": "RFM scores and the eleven named segments of an order export",
    "clv": "fit BG/NBD + Gamma-Gamma (time in weeks) and report parameters, CLV and holdout checks",
    "export": "write the target list of an RFM segment (CSV or XLSX, formula-injection-safe)",
    "report": "write a self-contained HTML report (and a PDF with Chromium) of an order export",
    "drivers": "what brings the best customers: value by first product, discount code, channel, region or cohort",
    "deck": "write the default deck of slides as an editable PowerPoint (native charts, speaker notes)",
    "append": "append a new export to a saved dataset folder: new, changed and duplicate orders (--undo restores)",
}
