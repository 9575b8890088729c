"""Phone-first layout in a real Chromium, on every page as every role (the crawl of
`test_accessibility.py`, seeded detail pages included):

- at 320, 390 and 430 px wide nothing scrolls sideways
  (`document.documentElement.scrollWidth <= window.innerWidth`);
- every touch target is at least 44 x 44 CSS px, where the rule is:
  * targets are links, buttons, inputs, selects, textareas, summaries and the labels of
    check boxes and radio buttons (the label of a text field is not a target: the field is);
  * a check box or radio inside its label is measured by its label (tapping the label
    toggles it), likewise a field wrapped in its label;
  * an inline text link inside running text (an `a` that is `display: inline` and whose
    parent holds other text) is exempt, as in WCAG 2.5.8's inline exception;
  * the spacing exception of WCAG 2.5.8, scaled to 44 px: a smaller target passes when a
    44 px circle centred on it meets no other target (and no other small target's circle);
- with the text enlarged to 200 % (a test-only stylesheet, as a user's font-size setting
  does) the main phone pages still do not scroll sideways;
- the supervisor's pages at 1280 px use the width: their `main` is wider than 900 px."""

from __future__ import annotations

from playwright.sync_api import Browser, Page

from tests.browser.test_accessibility import ROLES, crawl, phone, seed, start_pages
from tests.browser.test_loop import sign_in
from tests.live import LiveServer

WIDTHS = (320, 390, 430)

# Measured against the width asked for, not `window.innerWidth`: a phone browser zooms out
# to show a page wider than itself, which makes innerWidth grow with the page.
OVERFLOW = """(vw) => {
  if (document.documentElement.scrollWidth <= vw) return [];
  // Name the widest culprits, to make the failure useful.
  return [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > vw + 0.5)
    .slice(-3)
    .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
      (typeof e.className === 'string' && e.className ? '.' + e.className.split(' ').join('.') : '')
      +
      ' right=' + Math.round(e.getBoundingClientRect().right))
    .concat([`scrollWidth ${document.documentElement.scrollWidth} > ${vw}`]);
}"""

SMALL_TARGETS = """() => {
  const MIN = 44, R = MIN / 2;
  const sel = 'a[href], button, input:not([type=hidden]), select, textarea, summary, label';
  const visible = r => r.width > 0 && r.height > 0;
  const boxOf = el => {
    const tag = el.tagName;
    if (tag === 'LABEL') {
      const c = el.control;
      if (!c || !['checkbox', 'radio'].includes(c.type)) return null;  // not a target itself
      return el.getBoundingClientRect();
    }
    if (['INPUT', 'SELECT', 'TEXTAREA'].includes(tag) && el.closest('label'))
      return null;  // measured through its label
    if (tag === 'A' && getComputedStyle(el).display === 'inline') {
      const parentText = (el.parentElement.textContent || '').trim();
      if (parentText.length > (el.textContent || '').trim().length) return null;  // inline
    }
    if (getComputedStyle(el).visibility === 'hidden') return null;
    return el.getBoundingClientRect();
  };
  const targets = [];
  for (const el of document.querySelectorAll(sel)) {
    if (el.closest('[hidden], details:not([open]) > :not(summary)')) continue;
    const r = boxOf(el);
    if (r && visible(r)) targets.push({el, r});
  }
  const centre = r => [r.left + r.width / 2, r.top + r.height / 2];
  const small = t => t.r.width < MIN - 0.5 || t.r.height < MIN - 0.5;
  const distToRect = ([x, y], r) => Math.hypot(
    Math.max(r.left - x, 0, x - r.right), Math.max(r.top - y, 0, y - r.bottom));
  const bad = [];
  for (const t of targets) {
    if (!small(t)) continue;
    const c = centre(t.r);
    const crowded = targets.some(o => {
      if (o === t || o.el.contains(t.el) || t.el.contains(o.el)) return false;
      if (o.el.tagName === 'LABEL' && o.el.control === t.el) return false;
      if (t.el.tagName === 'LABEL' && t.el.control === o.el) return false;
      if (small(o)) { const d = centre(o.r); return Math.hypot(c[0] - d[0], c[1] - d[1]) < MIN; }
      return distToRect(c, o.r) < R;
    });
    if (crowded) {
      const e = t.el;
      const name = (e.textContent || e.getAttribute('aria-label') || e.name || '')
        .trim().slice(0, 30);
      bad.push(`${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''} "${name}" ` +
        `${Math.round(t.r.width)}x${Math.round(t.r.height)}`);
    }
  }
  return bad;
}"""

BIG_TEXT = "html { font-size: 200% !important; }"


def layout_problems(page: Page) -> list[str]:
    found: list[str] = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 844})
        found += [f"{width}px overflow: {p}" for p in page.evaluate(OVERFLOW, width)]
        found += [f"{width}px small target: {p}" for p in page.evaluate(SMALL_TARGETS)]
    page.set_viewport_size({"width": 390, "height": 844})
    return found


def test_every_page_fits_a_phone_with_44px_targets(browser: Browser, live: LiveServer) -> None:
    details = seed(live)
    pages = start_pages(live)
    failures: list[str] = []
    checked: dict[str, int] = {}
    for username in (None, *ROLES):
        context = phone(browser)
        page = context.new_page()
        who = username or "anonymous"
        if username:
            sign_in(page, live, username)
            start = ["/", *details, *pages]
        else:
            start = ["/login", "/scan/enter", details[4]]

        def check(url: str, who: str = who, page: Page = page) -> None:
            failures.extend(f"{who} {url}: {p}" for p in layout_problems(page))

        checked[who] = len(crawl(page, live, start, check))
        context.close()
    assert all(n >= 2 for n in checked.values()), checked
    assert not failures, "\n".join(failures)


def test_main_phone_pages_do_not_scroll_sideways_with_200_percent_text(
    browser: Browser, live: LiveServer
) -> None:
    details = seed(live)
    main_pages = {
        None: ["/login", "/scan/enter", details[4]],
        "inspector1": ["/", "/visits", "/visits/new", details[0], details[1], details[2]],
        "manager1": ["/enterprise", "/scan/enter", details[4], details[5]],
    }
    failures: list[str] = []
    for username, urls in main_pages.items():
        context = phone(browser, 320)
        page = context.new_page()
        if username:
            sign_in(page, live, username)
        for url in urls:
            page.goto(f"{live.url}{url}")
            page.wait_for_load_state("networkidle")
            page.add_style_tag(content=BIG_TEXT)
            # The stylesheet took: the text really is twice the size.
            assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 31
            for width in (320, 390):
                page.set_viewport_size({"width": width, "height": 844})
                failures += [
                    f"{username or 'anonymous'} {url} {width}px: {p}"
                    for p in page.evaluate(OVERFLOW, width)
                ]
        context.close()
    assert not failures, "\n".join(failures)


def test_supervisor_pages_use_a_desktop_width(browser: Browser, live: LiveServer) -> None:
    details = seed(live)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    sign_in(page, live, "supervisor1")
    widths: dict[str, float] = {}
    for url in ["/supervision", "/supervision/visits", "/supervision/flags", details[7]]:
        page.goto(f"{live.url}{url}")
        widths[url] = page.evaluate("document.querySelector('main').getBoundingClientRect().width")
    context.close()
    narrow = {url: w for url, w in widths.items() if w <= 900}
    assert not narrow, narrow


def test_layout_checks_can_fail(browser: Browser, live: LiveServer) -> None:
    """A planted wide block and a tiny isolated-but-crowded pair of buttons are reported."""
    context = phone(browser, 320)
    page = context.new_page()
    page.goto(f"{live.url}/login")
    assert page.evaluate(OVERFLOW, 320) == []
    assert page.evaluate(SMALL_TARGETS) == []
    page.add_style_tag(content=".planted { width: 600px; } .tiny { width: 20px; height: 20px; }")
    page.evaluate(
        """() => {
        const d = document.createElement('div'); d.className = 'planted'; d.textContent = 'x';
        const a = document.createElement('button'); a.className = 'tiny';
        const b = document.createElement('button'); b.className = 'tiny';
        document.querySelector('main').append(d, a, b);
    }"""
    )
    assert page.evaluate(OVERFLOW, 320)
    assert len(page.evaluate(SMALL_TARGETS)) == 2
    context.close()
