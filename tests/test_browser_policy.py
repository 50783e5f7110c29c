"""What the browser loads: nothing from other hosts, and the app works under the documented security policy.

A browser on a closed network, or under the reverse proxy's strict
Content-Security-Policy (docs/deployment.md), must get the whole app from the
server itself and run it without a policy violation.
"""
from __future__ import annotations

from urllib.parse import urlparse

from browser_helpers import page_state, wait_for, wait_for_selector, wait_until_idle
from test_browser import CHROMIUM, CHROMIUM_ARGS, _open, pytestmark, server_url  # noqa: F401  (fixture, chromium skip)
from test_deployment import nginx_headers

_RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation',
    e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def test_the_page_fetches_nothing_from_other_hosts(server_url):  # noqa: F811
    playwright, browser, page = _open(server_url, "")
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        page.reload(wait_until="domcontentloaded")  # recorded from the first request
        wait_for_selector(page, ".js-plotly-plot .main-svg", timeout=180_000)
        wait_until_idle(page)
        # the page icon is set by the run (a /media/ file): wait for it, then a moment for fonts and late chunks
        wait_for(page, "() => (document.querySelector('link[rel~=icon]')?.href || '').includes('/media/')",
                 what="the page icon")
        page.wait_for_load_state("networkidle", timeout=60_000)
        icon = page.evaluate("() => document.querySelector('link[rel~=icon]')?.href || ''")
    finally:
        browser.close()
        playwright.stop()
    server = urlparse(server_url).netloc
    foreign = sorted({url for url in requested if urlparse(url).scheme in ("http", "https", "ws", "wss")
                      and urlparse(url).netloc != server})
    assert not foreign, f"fetched from other hosts: {foreign}"
    assert urlparse(icon).netloc == server and "/media/" in icon, icon  # the local page icon, served by Streamlit
    assert len(requested) > 5  # the recording worked


def test_the_app_runs_under_the_documented_content_security_policy(server_url):  # noqa: F811
    """The proxy's policy, its websocket URL pointed at this test server, on every page the server sends.

    The policy is added to document responses by routing them through the
    test (Chromium then treats the page as public and would block its websocket
    to loopback as a private-network request, so that check is switched off).
    """
    from playwright.sync_api import sync_playwright

    headers = nginx_headers()
    server = urlparse(server_url).netloc
    policy = headers["Content-Security-Policy"].replace("wss://crm.example.com", f"ws://{server}")
    assert policy != headers["Content-Security-Policy"]

    def with_policy(route):
        if route.request.resource_type != "document":
            return route.continue_()
        response = route.fetch()
        extra = {"content-security-policy": policy, "x-frame-options": headers["X-Frame-Options"]}
        return route.fulfill(response=response, headers={**response.headers, **extra})

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
        *CHROMIUM_ARGS, "--disable-features=LocalNetworkAccessChecks,PrivateNetworkAccessChecks"])
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.route(lambda url: urlparse(url).netloc == server, with_policy)
        page.add_init_script(_RECORD_VIOLATIONS)
        # the Portfolio page's cost-to-serve tab draws a WebGL (scattergl) chart; the link opens that tab
        for path in ("", "portfolio?pf_tab=Cost+to+serve+%26+customer+lists"):
            response = page.goto(f"{server_url}/{path}", wait_until="domcontentloaded")
            assert response.headers["content-security-policy"] == policy  # the policy really applied
            wait_for_selector(page, ".js-plotly-plot .main-svg", timeout=180_000)
            wait_until_idle(page)
            if path:  # the scattergl matrix is drawn (WebGL: a while after its SVG layers)
                wait_for_selector(page, ".js-plotly-plot .gl-container", state="attached")
                assert page.locator(".js-plotly-plot .gl-container").count() == 1
            assert page.locator('[data-testid="stException"]').count() == 0, page_state(page)
            violations = page.evaluate("() => window.__violations")
            assert violations == [], f"{path or 'overview'}: {violations}"
    finally:
        browser.close()
        playwright.stop()
