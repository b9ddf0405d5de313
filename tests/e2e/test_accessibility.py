"""Accessibility of the main pages: axe-core (vendored, tests/e2e/vendor/) finds no violation
of serious or critical impact; and at a phone's width (390 px) the questionnaire and My work
do not scroll sideways (tables may scroll inside their own box)."""

from __future__ import annotations

from pathlib import Path

from .pages import RISK, main_pages

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
BLOCKING = ("serious", "critical")
PHONE = {"width": 390, "height": 844}


def _violations(page, rules: list[str] | None = None) -> list[dict]:
    # The app's CSP allows only its own scripts: the context bypasses CSP to inject axe.
    if not page.evaluate("() => 'axe' in window"):
        page.add_script_tag(path=AXE)
    options = {"resultTypes": ["violations"]}
    if rules:
        options["runOnly"] = {"type": "rule", "values": rules}
    result = page.evaluate("async (options) => await axe.run(document, options)", options)
    return [v for v in result["violations"] if v["impact"] in BLOCKING]


# aria-describedby / aria-labelledby / label[for] naming an id that is not on the page: the help
# text or label is then silently lost to screen readers, and axe only lists it "for review".
DANGLING_JS = """() => {
  const out = [];
  const missing = (id) => id && !document.getElementById(id);
  for (const el of document.querySelectorAll('[aria-describedby], [aria-labelledby]')) {
    for (const attr of ['aria-describedby', 'aria-labelledby']) {
      for (const id of (el.getAttribute(attr) || '').split(/\\s+/).filter(missing)) {
        out.push(`${attr}="${id}" on ${el.outerHTML.slice(0, 80)}`);
      }
    }
  }
  for (const label of document.querySelectorAll('label[for]')) {
    if (missing(label.htmlFor)) out.push(`label for="${label.htmlFor}"`);
  }
  return out;
}"""

# How wide the page is, and the first elements sticking out (tables scroll in their own box).
SIDEWAYS_JS = """() => {
  const width = window.innerWidth;
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + (el.className ? '.' + String(el.className).trim().split(/\\s+/).join('.') : '');
  const wide = [...document.querySelectorAll('body *')]
    .filter((el) => el.getBoundingClientRect().right > width + 1 && !el.closest('.table-wrap'))
    .slice(0, 5).map(name);
  return {scroll: document.documentElement.scrollWidth, width, wide};
}"""


def _describe(name: str, v: dict) -> str:
    nodes = "; ".join(f"{n['target']} {n['html'][:120]}" for n in v["nodes"][:3])
    return f"{name}: [{v['impact']}] {v['id']}: {v['help']} ({len(v['nodes'])}x) {nodes}"


def test_main_pages_have_no_serious_accessibility_violations(demo_with_report, open_page):
    logged_in = {}
    found = []
    for name, (who, url) in main_pages(demo_with_report).items():
        page = logged_in.get(who) or logged_in.setdefault(who, open_page(who, bypass_csp=True))
        page.emulate_media(color_scheme="light")
        assert page.goto(url).status == 200, name
        found += [f"{name}: dangling {ref}" for ref in page.evaluate(DANGLING_JS)]
        # Pico follows the system's colour scheme, so both must be readable. Its colour
        # transitions would have axe measure colours half-way: switched off for the check.
        page.add_style_tag(content="*, *::before, *::after { transition: none !important; }")
        found += [_describe(name, v) for v in _violations(page)]
        page.emulate_media(color_scheme="dark")
        found += [_describe(f"{name} (dark)", v) for v in _violations(page, ["color-contrast"])]
    assert not found, "axe-core found:\n" + "\n".join(found)


def test_questionnaire_and_my_work_fit_a_phone(demo, open_page):
    page = open_page(RISK, viewport=PHONE)
    pages = main_pages(demo)
    for name in ("questionnaire", "my-work"):
        assert page.goto(pages[name][1]).status == 200
        # Folded parts too (assign, add evidence, guidance): they hold inline forms.
        page.evaluate("document.querySelectorAll('main details').forEach(d => d.open = true)")
        got = page.evaluate(SIDEWAYS_JS)
        assert got["scroll"] <= got["width"], f"{name} scrolls sideways at 390 px: {got}"
