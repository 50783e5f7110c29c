"""In a real browser: build a deck from three pages, reorder it, play it in dark mode at 1366x768 and check contrast.

Contrast is read from computed styles (WCAG 2 relative luminance): text at
least 4.5:1 on its effective background, control borders and the progress
track at least 3:1 on the page. The step time is measured and printed, not
asserted (wall-clock times vary between machines).
"""
from __future__ import annotations

import os

import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS, server_url  # noqa: F401  (server_url is a fixture)

VIEWPORT = {"width": 1366, "height": 768}

#: Computed colours of what meeting mode shows, with the effective background of each element.
CONTRAST_JS = """
() => {
  const parse = (c) => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(',').map(Number); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
  const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const background = (el) => { for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor); if (c && c.a > 0.5) return c; }
    return {r: 255, g: 255, b: 255, a: 1}; };
  const main = document.querySelector('[data-testid="stMain"]');
  const page = background(main);
  const results = [];
  const text = (el, label) => { if (!el || !el.offsetParent) return; const c = parse(getComputedStyle(el).color);
    results.push({kind: 'text', label, ratio: ratio(c, background(el))}); };
  main.querySelectorAll('h2').forEach(el => text(el, 'headline'));
  main.querySelectorAll('[data-testid="stCaptionContainer"] p, [data-testid="stCaptionContainer"]').forEach(el => text(el, 'detail'));
  main.querySelectorAll('[data-testid="stProgress"] p').forEach(el => text(el, 'progress text'));
  main.querySelectorAll('button').forEach(b => { if (b.disabled || !b.offsetParent) return;
    const label = (b.innerText || '').trim() || 'button';
    const p = b.querySelector('p') || b; text(p, 'button ' + label);
    const s = getComputedStyle(b); const border = parse(s.borderTopColor); const fill = background(b);
    const edge = Math.max(border && parseFloat(s.borderTopWidth) > 0 ? ratio(border, page) : 1, ratio(fill, page));
    results.push({kind: 'control', label: 'button ' + label, ratio: edge}); });
  const track = main.querySelector('[data-testid="stProgress"] [role="progressbar"] > div');
  if (track) results.push({kind: 'control', label: 'progress track', ratio: ratio(background(track), page)});
  return {page, results};
}
"""


def _nav(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
    page.wait_for_timeout(500)


def _idle(page, timeout: int = 90_000) -> None:
    """Wait until the script run is over (no running indicator)."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "!document.querySelector('[data-testid=\"stStatusWidget\"]') || "
        "!document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')", timeout=timeout)
    page.wait_for_timeout(300)


def _add_first_chart(page) -> None:
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=90_000)
    _idle(page)
    page.get_by_role("button", name="Add to deck").first.click()
    page.get_by_text("Added to the deck").first.wait_for(timeout=30_000)
    _idle(page)


def _slide_titles(page) -> list[str]:
    texts = page.locator('[data-testid="stMain"] [data-testid="stMarkdownContainer"] strong').all_inner_texts()
    return [t for t in texts if t[:1].isdigit() and ". " in t]


def _assert_contrast(page, background: tuple[int, int, int]) -> None:
    """WCAG AA from computed styles: text 4.5:1, controls and the progress track 3:1."""
    measured = page.evaluate(CONTRAST_JS)
    shown = measured["page"]
    assert (shown["r"], shown["g"], shown["b"]) == background
    failures = [r for r in measured["results"] if r["ratio"] < (4.5 if r["kind"] == "text" else 3.0)]
    assert not failures, failures
    assert {r["label"] for r in measured["results"]} >= {"headline", "progress track"}
    assert any(r["label"].startswith("button") and "Next" in r["label"] for r in measured["results"])


@pytest.mark.timeout(600)
def test_deck_from_three_pages_reordered_and_played_dark(server_url):  # noqa: F811
    from playwright.sync_api import sync_playwright

    shots = os.environ.get("CRM_SCREENSHOTS")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(f"{server_url}/deck", wait_until="domcontentloaded")
            page.get_by_role("button", name="Start an empty deck").click(timeout=180_000)  # the first run computes
            page.get_by_text("0 slides", exact=True).wait_for(timeout=90_000)

            for title in ("Overview", "Portfolio", "Segments"):
                _nav(page, title)
                _add_first_chart(page)
                if shots and title == "Portfolio":
                    page.screenshot(path=f"{shots}/present-1-add-to-deck.png")

            _nav(page, "Deck")
            page.get_by_text("3 slides", exact=True).wait_for(timeout=60_000)
            page.locator('[data-testid="stMain"] strong', has_text="3. ").first.wait_for(timeout=60_000)
            _idle(page)
            before = _slide_titles(page)
            assert len(before) == 3, before
            sources = page.locator('[data-testid="stMain"] [data-testid="stCaptionContainer"]').all_inner_texts()
            assert any("Overview" in s for s in sources) and any("Portfolio" in s for s in sources)
            expected_second = "2. " + before[2].split(". ", 1)[1]
            up = page.locator('[data-testid="stMain"] button:visible', has_text="Up")
            assert up.count() == 3
            up.nth(2).click()  # the third slide one place earlier
            try:
                page.locator('[data-testid="stMain"] strong', has_text=expected_second).wait_for(timeout=30_000)
            except Exception:
                page.screenshot(path="/tmp/shots/debug.png", full_page=True)
                raise
            _idle(page)
            after = _slide_titles(page)
            assert [t.split(". ", 1)[1] for t in after] == \
                [t.split(". ", 1)[1] for t in (before[0], before[2], before[1])]
            if shots:
                page.screenshot(path=f"{shots}/present-2-deck.png", full_page=True)

            page.get_by_role("button", name="Play in meeting mode").click()
            page.locator('[data-testid="stProgress"]').wait_for(timeout=90_000)
            _idle(page)
            _assert_contrast(page, (255, 255, 255))  # light theme
            if shots:
                page.screenshot(path=f"{shots}/present-3-meeting-light.png")
            page.locator('[data-testid="stMain"] button:visible', has_text="Dark").first.click()
            _idle(page)
            page.wait_for_function(  # the chart is redrawn on the dark template
                "() => { const s = document.querySelector('.js-plotly-plot .main-svg');"
                " return s && getComputedStyle(s).backgroundColor === 'rgb(14, 17, 23)'; }", timeout=60_000)
            assert "Slide 1 of 3" in page.locator('[data-testid="stProgress"]').inner_text()

            # headline, chart and detail all visible at 1366x768, and no Plotly toolbar
            headline = page.locator('[data-testid="stMain"] h2').first.bounding_box()
            plot = page.locator(".js-plotly-plot").first.bounding_box()
            assert headline["y"] >= 0 and plot["y"] + plot["height"] <= VIEWPORT["height"]
            assert page.locator(".modebar-container .modebar").count() == 0 or \
                page.locator(".modebar").first.is_hidden()

            _assert_contrast(page, (14, 17, 23))  # dark theme

            if shots:
                page.screenshot(path=f"{shots}/present-4-meeting-dark.png")
            # a step only picks a prepared slide: time Next until the new headline shows
            first = page.locator('[data-testid="stMain"] h2').first.inner_text()
            started = page.evaluate("performance.now()")
            page.locator('[data-testid="stMain"] button:visible', has_text="Next").first.click()
            page.wait_for_function(
                "(old) => { const h = document.querySelector('[data-testid=\"stMain\"] h2'); return h && h.innerText !== old; }",
                arg=first, timeout=30_000)
            step_ms = page.evaluate("performance.now()") - started
            print(f"meeting step rendered in {step_ms:.0f} ms")
            assert "Slide 2 of 3" in page.locator('[data-testid="stProgress"]').inner_text()
        finally:
            browser.close()
