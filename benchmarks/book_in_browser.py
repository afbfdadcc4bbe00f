"""The rendered book in a real browser: every page of `_toc.yml`, loaded by headless Chromium.

Serves `_build/html` on localhost and, for each page, checks that
- every <img> finished loading with a non-zero size, and each chapter notebook shows figures;
- each notebook page has its "Open in Colab" link (to this repository's copy of the notebook);
- the browser console has no errors;
- every formula is typeset by MathJax, and no TeX delimiter is left in the text;
- every Markdown table (e.g. a committed results file a chapter displays) is rendered as a table, not as text;
- no code block, output or table is wider than the page's column (it would need a horizontal scroll bar);
and saves a screenshot per page. Prints one line per page, writes benchmarks/results/book_in_browser.{json,md},
and exits 1 if any page fails.

Needs Debian's `chromium` and `chromium-driver` (apt-get install chromium chromium-driver) and
`pip install selenium`; offline, also `pip install django-static-mathjax` (MathJax 3's files, served in place of
the CDN the pages load it from). Build the book first: `jupyter-book build .`.
Usage: python benchmarks/book_in_browser.py [--html _build/html] [--screenshots _build/screenshots]
"""
from __future__ import annotations

import argparse
import functools
import http.server
import importlib.util
import shutil
import sys
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, save  # noqa: E402

COLAB_PREFIX = "https://colab.research.google.com/github/"


def toc_pages(toc_path: Path) -> list[str]:
    """Page paths (no suffix) in the order of _toc.yml: the root, then every chapter."""
    toc = yaml.safe_load(toc_path.read_text())
    pages = [toc["root"]]
    for entry in toc.get("chapters", []) + [c for part in toc.get("parts", []) for c in part.get("chapters", [])]:
        pages.append(entry["file"])
    return pages


MATHJAX_CDN = "https://cdn.jsdelivr.net/npm/mathjax@3/"  # where the built pages load MathJax 3 from (Sphinx's default)


def local_mathjax() -> Path | None:
    """MathJax 3's files from the pip package django-static-mathjax, when installed (for a machine offline)."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax"
    return folder if (folder / "es5").is_dir() else None


def serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve the built book on localhost; with a local MathJax, pages load it from /_mathjax/ instead of the CDN."""
    mathjax = local_mathjax()

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # no access log on stderr
            pass

        def do_GET(self):
            path = self.path.split("?")[0]
            if mathjax is not None and path.startswith("/_mathjax/"):
                file = mathjax / path[len("/_mathjax/"):]
                return self._send(file.read_bytes(), "text/javascript") if file.is_file() else self.send_error(404)
            if mathjax is not None and path.endswith(".html") and (directory / path.lstrip("/")).is_file():
                page = (directory / path.lstrip("/")).read_text().replace(MATHJAX_CDN, "/_mathjax/")
                return self._send(page.encode(), "text/html; charset=utf-8")
            return super().do_GET()

        def _send(self, body: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1600",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--disable-default-apps", "--disable-sync", "--metrics-recording-only"):
        options.add_argument(flag)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:
        options.binary_location = chromium
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver_path = shutil.which("chromedriver")
    return webdriver.Chrome(options=options, service=Service(driver_path) if driver_path else None)


IMAGES_JS = """
return Array.from(document.images).map(img => ({
  src: img.getAttribute('src'), complete: img.complete, width: img.naturalWidth, height: img.naturalHeight,
  figure: img.closest('.cell_output') !== null}));
"""


# Waits (up to 10 s) for MathJax to load and typeset the page, then reports on every math element and on
# prose (code removed) that still holds TeX delimiters, which is what an untypeset formula leaves behind.
MATH_JS = """
const done = arguments[arguments.length - 1];
const report = () => {
  const main = document.querySelector('main') || document.body;
  const maths = Array.from(main.querySelectorAll('.math'));
  const prose = main.cloneNode(true);
  prose.querySelectorAll('pre, code, script, style, .math').forEach(e => e.remove());
  done({loaded: !!(window.MathJax && MathJax.startup), elements: maths.length,
        typeset: maths.filter(m => m.querySelector('mjx-container')).length,
        errors: main.querySelectorAll('mjx-merror').length, pipes: /\\|\\s*(-{3}|\u2014)/.test(prose.textContent),
        raw: /\\$\\$|\\\\\\(|\\\\\\[/.test(prose.textContent)});
};
let tries = 0;
const wait = () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { MathJax.startup.promise.then(report, report); }
  else if (document.querySelector('.math') && tries++ < 100) { setTimeout(wait, 100); }
  else { report(); }
};
wait();
"""

# Scrolling boxes wider than the column (a horizontal scroll bar in the page), with every dropdown and hidden cell
# opened first; each named by its first 60 characters.
WIDE_JS = """
document.querySelectorAll('main details').forEach(d => { d.open = true; });
return Array.from(document.querySelectorAll('main pre, main .pst-scrollable-table-container, main .output, main table'))
  .filter(el => el.scrollWidth > el.clientWidth + 1)
  .map(el => el.tagName.toLowerCase() + ': ' + el.innerText.trim().split('\\n')[0].slice(0, 60));
"""


def check_page(driver, base: str, page: str, notebook: bool, screenshots: Path) -> dict:
    url = f"{base}/{page}.html"
    driver.get(url)
    deadline = time.time() + 30
    while driver.execute_script("return document.readyState") != "complete" and time.time() < deadline:
        time.sleep(0.1)
    images = driver.execute_script(IMAGES_JS)
    math = driver.execute_async_script(MATH_JS)
    links = [a.get_attribute("href") for a in driver.find_elements("css selector", "a[href]")]
    colab = [link for link in links if link.startswith(COLAB_PREFIX) and link.endswith(f"{page}.ipynb")]
    errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    shot = screenshots / (page.replace("/", "_") + ".png")
    driver.save_screenshot(str(shot))  # as a reader first sees it: dropdowns closed
    wide = driver.execute_script(WIDE_JS)
    broken = [img["src"] for img in images if not (img["complete"] and img["width"] > 0 and img["height"] > 0)]
    figures = sum(img["figure"] for img in images)
    problems = []
    if broken:
        problems.append(f"images not loaded: {broken}")
    if notebook and figures == 0:
        problems.append("no figures in the cell outputs")
    if notebook and not colab:
        problems.append("no Open-in-Colab link")
    if errors:
        problems.append(f"console errors: {errors}")
    if math["elements"] and not math["loaded"]:
        problems.append("MathJax did not load (offline? pip install django-static-mathjax serves it locally)")
    elif math["typeset"] < math["elements"] or math["errors"] or math["raw"]:
        problems.append(f"mathematics not typeset: {math['typeset']} of {math['elements']} formulas, "
                        f"{math['errors']} TeX errors, TeX delimiters left in the text: {math['raw']}")
    if math["pipes"]:
        problems.append("a Markdown table shown as text (its |---| row is in the page, maybe as |—|)")
    if wide:
        problems.append(f"{len(wide)} blocks wider than the column: {wide[:3]}")
    return {"page": page, "url": url, "images": len(images), "figures": figures, "colab": colab[:1],
            "console_errors": errors, "math": math, "wide_blocks": wide, "screenshot": str(shot),
            "problems": problems}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--html", default=str(ROOT / "_build" / "html"))
    parser.add_argument("--screenshots", default=str(ROOT / "_build" / "screenshots"))
    args = parser.parse_args()
    html, screenshots = Path(args.html), Path(args.screenshots)
    if not (html / "index.html").exists():
        print(f"error: no built book at {html}; run `jupyter-book build .` first", file=sys.stderr)
        return 2
    screenshots.mkdir(parents=True, exist_ok=True)
    pages = toc_pages(ROOT / "_toc.yml")
    server, base = serve(html)
    driver = browser()
    try:
        results = [check_page(driver, base, page, (ROOT / f"{page}.ipynb").exists(), screenshots) for page in pages]
    finally:
        driver.quit()
        server.shutdown()
    for r in results:
        status = "ok" if not r["problems"] else "FAIL: " + "; ".join(r["problems"])
        print(f"{r['page']:<28} images {r['images']:>3}  figures {r['figures']:>3}  colab {'yes' if r['colab'] else 'no':<3}  "
              f"console errors {len(r['console_errors'])}  math {r['math']['typeset']:>2}/{r['math']['elements']:<2}  wide {len(r['wide_blocks'])}  {status}")
    passed = all(not r["problems"] for r in results)
    lines = ["# The rendered book in headless Chromium", "",
             "| page | images loaded | figures in outputs | Colab link | console errors | math typeset | blocks wider than the column "
             "| result |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['page']} | {r['images']} | {r['figures']} | {'yes' if r['colab'] else '-'} | {len(r['console_errors'])} | "
              f"{r['math']['typeset']} of {r['math']['elements']} | {len(r['wide_blocks'])} | "
              + ("ok" if not r["problems"] else "FAIL: " + "; ".join(r["problems"]).replace("|", "\\|")) + " |"
              for r in results]
    lines += ["", f"All pages pass: {passed}. Screenshots: {screenshots}. Machine: {machine()}"]
    save("book_in_browser", {"machine": machine(), "passed": passed, "pages": results}, lines)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
