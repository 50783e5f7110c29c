"""User text shown through Markdown stays text: no emphasis, no link, no address turned into a link."""
from __future__ import annotations

import re

import pytest

from ui.widgets import plain

JOINER = "\u2060"


def _shown(markdown: str) -> str:
    """What the reader sees: escapes resolved, the invisible joiner dropped."""
    return re.sub(r"\\(.)", r"\1", markdown).replace(JOINER, "")


@pytest.mark.parametrize("text", [
    "see http://evil.example/x", "HTTPS://e.example", "www.evil.example", "ftp://files.example",
    "jane.doe+crm@example.com", "[click](http://y.z)", "**Gold** _tier_", "1,234.56", "C-001 (VIP)",
])
def test_user_text_reads_back_exactly(text):
    assert _shown(plain(text)) == text


@pytest.mark.parametrize("text", ["http://evil.example", "https://e.example", "www.evil.example", "ftp://f.example",
                                  "a@b.com"])
def test_addresses_are_broken_for_markdown_autolinks(text):
    shown = plain(text)
    # Markdown links these by their literal start ("http:", "www.", "x@"): the joiner sits inside each.
    assert not re.search(r"(?i)https?:|ftp:|www\\\.|[a-z0-9]@", shown) and JOINER in shown


def test_text_without_addresses_gets_no_joiner():
    assert JOINER not in plain("Revenue per customer: 1,234.56 (top 20%)")
