"""In a real browser: build a deck from three pages, reorder it, play it in dark mode at 1366x768 and check contrast.

Contrast is read from computed styles (WCAG 2 relative luminance): text at
least 4.5:1 on its effective background, control borders and the progress
track at least 3:1 on the page. The step time is measured and printed, not
asserted (wall-clock times vary between machines).
"""
from __future__ import annotations

import os
import re

import pytest
from browser_helpers import page_state, wait_for, wait_for_selector, wait_until_idle
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
  const shows = (el) => el && el.offsetParent && el.checkVisibility({visibilityProperty: true, opacityProperty: true});
  // what the eye sees: the colour blended into its background by its alpha and every ancestor's opacity
  const seen = (c, el, bg) => { let a = c.a; for (let e = el; e && e !== document.body; e = e.parentElement)
      a *= parseFloat(getComputedStyle(e).opacity);
    return {r: a * c.r + (1 - a) * bg.r, g: a * c.g + (1 - a) * bg.g, b: a * c.b + (1 - a) * bg.b, a: 1}; };
  const text = (el, label) => { if (!shows(el)) return; const bg = background(el);
    results.push({kind: 'text', label, ratio: ratio(seen(parse(getComputedStyle(el).color), el, bg), bg)}); };
  main.querySelectorAll('h2').forEach(el => text(el, 'headline'));
  main.querySelectorAll('[data-testid="stCaptionContainer"] p, [data-testid="stCaptionContainer"]').forEach(el => text(el, 'detail'));
  main.querySelectorAll('summary p').forEach(el => text(el, 'expander'));
  main.querySelectorAll('[data-testid="stProgress"] p').forEach(el => text(el, 'progress text'));
  main.querySelectorAll('button').forEach(b => { if (b.disabled || !shows(b)) return;
    const label = (b.innerText || '').trim() || 'button';
    const p = b.querySelector('p') || b; text(p, 'button ' + label);
    const s = getComputedStyle(b); const border = parse(s.borderTopColor); const fill = background(b);
    const edge = Math.max(border && parseFloat(s.borderTopWidth) > 0 ? ratio(seen(border, b, page), page) : 1, ratio(seen(fill, b, page), page));
    results.push({kind: 'control', label: 'button ' + label, ratio: edge}); });
  const track = main.querySelector('[data-testid="stProgress"] [role="progressbar"] > div');
  if (track) results.push({kind: 'control', label: 'progress track', ratio: ratio(seen(background(track), track, page), page)});
  return {page, results};
}
"""

#: The slide meeting mode shows (every slide is on the page; the controls' CSS shows one):
#: bounding boxes of its headline, chart and detail line, and whether a Plotly toolbar shows.
SHOWN_JS = """
() => {
  const slide = [...document.querySelectorAll('[class*="st-key-meeting_slide_"]')]
    .filter(e => e.checkVisibility({visibilityProperty: true, opacityProperty: true}));
  if (slide.length !== 1) return {count: slide.length};
  const box = (sel) => { const e = slide[0].querySelector(sel); if (!e) return null;
    const r = e.getBoundingClientRect(); return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; };
  const toolbars = [...document.querySelectorAll('.modebar')].filter(e => e.checkVisibility({visibilityProperty: true}));
  return {count: 1, headline: slide[0].querySelector('h2').innerText, boxes: {headline: box('h2'),
          chart: box('.js-plotly-plot'), detail: box('[data-testid="stCaptionContainer"]')}, toolbars: toolbars.length};
}
"""

#: Next clicked inside the page; resolves when another headline shows (time from the click, in ms).
STEP_JS = """
async () => {
  const shown = () => { const h = [...document.querySelectorAll('[class*="st-key-meeting_slide_"] h2')]
    .find(e => e.checkVisibility({visibilityProperty: true, opacityProperty: true})); return h ? h.innerText : ''; };
  const old = shown();
  const next = [...document.querySelectorAll('[data-testid="stMain"] button')].find(b => b.innerText.includes('Next'));
  const started = performance.now();
  next.click();
  while (shown() === old || shown() === '') {
    await new Promise(resolve => requestAnimationFrame(resolve));
    if (performance.now() - started > 120000) return -1;
  }
  return performance.now() - started;
}
"""


def _assert_slide_fits(page) -> str:
    """Headline, chart and detail of the shown slide inside a 1366x768 screen, no Plotly toolbar; its headline."""
    shown = page.evaluate(SHOWN_JS)
    assert shown["count"] == 1, shown
    for name, box in shown["boxes"].items():
        assert box is not None, (name, shown)
        assert box["top"] >= 0 and box["bottom"] <= VIEWPORT["height"], (name, shown)
        assert box["left"] >= 0 and box["right"] <= VIEWPORT["width"], (name, shown)
    assert shown["toolbars"] == 0
    return shown["headline"]


def _step_times(page, steps: int) -> list[float]:
    """Press Next ``steps`` times (each once the slide has settled), checking every slide fits; the times."""
    times = []
    for _ in range(steps):
        wait_until_idle(page, settle_ms=300)  # the previous step's run over: the slide shown has settled
        before = _assert_slide_fits(page)
        elapsed = page.evaluate(STEP_JS)
        assert elapsed >= 0, f"the next slide did not show within 120 s: {page_state(page)}"
        times.append(elapsed)
        assert _assert_slide_fits(page) != before
    return times


def _still(page) -> None:
    """Mouse out of the way (no tooltip in a screenshot) and a moment for toasts and charts to settle."""
    page.mouse.move(VIEWPORT["width"] - 5, 5)
    page.wait_for_timeout(400)


#: Address of each page the test opens (app.py's url paths).
PAGE_PATHS = {"Overview": "/", "Portfolio": "/portfolio", "Segments": "/segments", "Deck": "/deck"}


def _nav(page, title: str) -> None:
    link = page.locator('[data-testid="stSidebarNav"] a:visible', has_text=title)
    more = page.locator('[data-testid="stSidebarNav"] button:visible', has_text=re.compile("more", re.IGNORECASE))
    if link.count() == 0 and more.count():  # a long page list is collapsed under "View more"
        more.first.click()
    link.first.click(timeout=120_000)
    # under load the old page stays on screen a while: wait for the new address and the end of its run
    wait_for(page, "path => location.pathname === path", arg=PAGE_PATHS[title], what=f"the address of {title}")
    wait_until_idle(page, settle_ms=300)


def _add_first_chart(page) -> None:
    wait_for_selector(page, ".js-plotly-plot .main-svg", timeout=180_000)
    wait_until_idle(page, settle_ms=300)
    page.get_by_role("button", name="Add to deck").first.click()
    wait_for_selector(page, "text=Added to the deck")  # the toast (it stays a few seconds)
    wait_until_idle(page, settle_ms=300)


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


@pytest.mark.timeout(900)
def test_deck_from_three_pages_reordered_and_played_dark(server_url):  # noqa: F811
    from playwright.sync_api import sync_playwright

    shots = os.environ.get("CRM_SCREENSHOTS")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(120_000)  # Playwright's 30 s for a click is short on a loaded machine
            page.goto(f"{server_url}/deck", wait_until="domcontentloaded")
            page.get_by_role("button", name="Start an empty deck").click(timeout=180_000)  # the first run computes
            page.get_by_text("0 slides", exact=True).wait_for(timeout=120_000)

            for title in ("Overview", "Portfolio", "Segments"):
                _nav(page, title)
                _add_first_chart(page)
                if shots and title == "Portfolio":
                    _still(page)
                    page.screenshot(path=f"{shots}/present-1-add-to-deck.png")

            _nav(page, "Deck")
            page.get_by_text("3 slides", exact=True).wait_for(timeout=120_000)
            page.locator('[data-testid="stMain"] strong', has_text="3. ").first.wait_for(timeout=120_000)
            wait_until_idle(page, settle_ms=300)
            before = _slide_titles(page)
            assert len(before) == 3, before
            # Each slide's source, in grey under its title (one Markdown element lists the slides).
            sources = page.locator('[data-testid="stMain"] .stMarkdownColoredText').all_inner_texts()
            assert any("Overview" in s for s in sources) and any("Portfolio" in s for s in sources)
            expected_second = "2. " + before[2].split(". ", 1)[1]
            up = page.locator('[data-testid="stMain"] button:visible', has_text="Up")
            assert up.count() == 1  # one row of buttons, for the slide picked
            page.locator('[data-testid="stMain"] [data-testid="stSelectbox"]').filter(has_text="Slide").first.click()
            page.get_by_role("option").nth(2).click()  # the third slide
            wait_until_idle(page, settle_ms=300)
            up.first.click()  # one place earlier
            page.locator('[data-testid="stMain"] strong', has_text=expected_second).wait_for(timeout=120_000)
            wait_until_idle(page, settle_ms=300)
            after = _slide_titles(page)
            assert [t.split(". ", 1)[1] for t in after] == \
                [t.split(". ", 1)[1] for t in (before[0], before[2], before[1])]
            if shots:
                _still(page)
                page.screenshot(path=f"{shots}/present-2-deck.png", full_page=True)

            page.get_by_role("button", name="Play in meeting mode").click()
            wait_for_selector(page, '[data-testid="stProgress"]', timeout=180_000)  # the slides are computed first
            wait_until_idle(page, settle_ms=300)
            _assert_contrast(page, (255, 255, 255))  # light theme
            if shots:
                _still(page)
                page.screenshot(path=f"{shots}/present-3-meeting-light.png")
            page.locator('[data-testid="stMain"] button:visible', has_text="Dark").first.click()
            wait_until_idle(page, settle_ms=300)
            wait_for(page,  # the chart is redrawn on the dark template
                     "() => { const s = document.querySelector('.js-plotly-plot .main-svg');"
                     " return s && getComputedStyle(s).backgroundColor === 'rgb(14, 17, 23)'; }",
                     what="the chart on the dark template")
            assert "Slide 1 of 3" in page.locator('[data-testid="stProgress"]').inner_text()

            # headline, chart and detail all visible at 1366x768, and no Plotly toolbar
            _assert_slide_fits(page)
            _assert_contrast(page, (14, 17, 23))  # dark theme
            if shots:
                _still(page)
                page.screenshot(path=f"{shots}/present-4-meeting-dark.png")
            # a step only swaps the slide shown: time Next until the new headline shows (printed, not asserted)
            times = _step_times(page, 2)
            print("meeting steps (3-slide deck, dark):", ", ".join(f"{t:.0f} ms" for t in times))
            assert "Slide 3 of 3" in page.locator('[data-testid="stProgress"]').inner_text()
        finally:
            browser.close()


@pytest.mark.timeout(900)
def test_default_deck_fits_the_screen_and_steps(server_url):  # noqa: F811
    """Every slide of the default deck at 1366x768 in light mode: headline, chart and detail on screen."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(120_000)
            page.goto(f"{server_url}/meeting?meeting=true&theme=Light", wait_until="domcontentloaded")
            progress = page.locator('[data-testid="stProgress"]')
            wait_for_selector(page, '[data-testid="stProgress"]', timeout=180_000)
            wait_for_selector(page, ".js-plotly-plot .main-svg")
            wait_until_idle(page, settle_ms=300)
            count = int(re.search(r"of (\d+)", progress.inner_text()).group(1))
            assert count >= 8
            _assert_contrast(page, (255, 255, 255))
            times = sorted(_step_times(page, count - 1))
            assert f"Slide {count} of {count}" in progress.inner_text()
            wait_until_idle(page, settle_ms=300)
            _assert_slide_fits(page)
            print(f"meeting steps (default deck, {count} slides): median {times[len(times) // 2]:.0f} ms, "
                  f"fastest {times[0]:.0f} ms, slowest {times[-1]:.0f} ms")
        finally:
            browser.close()
