"""CLI subcommands: each module defines ``add_arguments(parser)`` and ``run(args) -> int``."""
COMMANDS = ("summary", "demo", "portfolio", "rfm", "clv", "export", "report", "deck")
