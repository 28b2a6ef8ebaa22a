"""The summary as a reader sees it: the HTML in headless Chromium (Debian's,
installed by scripts/install-system-packages.sh) and the PDF's pages as
images. The expected figures come from the samples' manifest, written by
the generator of the samples, not by the code under test."""

import shutil
from pathlib import Path

import pytest

from dmarc_analyzer import api
from tests.conftest import SAMPLES
from tests.test_cli import MANIFEST

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
EXPECTED = [r for entry in MANIFEST for r in entry["reports"]]
MESSAGES = sum(r["messages"] for r in EXPECTED)
DMARC_RATE = sum(r["dmarc_pass"] for r in EXPECTED) / MESSAGES


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    """The sample week's summary in every format, in English and Japanese."""
    from datetime import date

    out = tmp_path_factory.mktemp("summary")
    database = api.open_database(f"sqlite:///{out / 'samples.sqlite'}")
    api.ingest(database, [SAMPLES])
    summary = api.summarize(
        database, api.Period(date(2026, 11, 23), date(2026, 11, 29))
    )
    written = {}
    for code in ("en", "ja"):
        for path in api.write_summary(summary, out, ("html", "pdf"), code):
            written[f"{code}{path.suffix}"] = path
    database.close()
    return written


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail(
            "Chromium and ChromeDriver are missing: run "
            "scripts/install-system-packages.sh (make test does)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1280,2000", "--lang=en-US"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


@pytest.mark.parametrize(
    ("code", "messages", "rate"),
    [
        ("en", f"{MESSAGES:,}", f"{DMARC_RATE:.1%}"),
        ("ja", f"{MESSAGES:,}", f"{DMARC_RATE:.1%}"),
    ],
)
def test_html_loads_without_errors_and_shows_the_headline(
    browser, pages, tmp_path, code, messages, rate
):
    browser.get(pages[f"{code}.html"].as_uri())

    body = browser.find_element("tag name", "body").text
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    fetched = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    images = browser.execute_script(
        "return Array.from(document.images).map(i => i.complete && i.naturalWidth)"
    )
    browser.save_screenshot(str(tmp_path / f"summary-{code}.png"))

    assert errors == []
    assert [url for url in fetched if not url.startswith("data:")] == []
    assert len(images) == 4 and all(width > 100 for width in images)
    assert messages in body and rate in body
    if code == "ja":
        assert "DMARC サマリー" in body and "2026/11/23" in body
    else:
        assert "DMARC summary" in body and "Nov 23, 2026" in body


def test_pdf_pages_are_not_blank_and_carry_the_headline(pages):
    import pypdfium2

    for code in ("en", "ja"):
        document = pypdfium2.PdfDocument(pages[f"{code}.pdf"])
        first_page_text = document[0].get_textpage().get_text_range()
        inked = [_inked_share(page.render(scale=0.5).to_pil()) for page in document]

        assert len(inked) >= 2
        assert all(share > 0.005 for share in inked), (code, inked)
        assert f"{MESSAGES:,}" in first_page_text
        document.close()


def _inked_share(image) -> float:
    """The share of pixels that are not (nearly) white."""
    grey = image.convert("L")
    histogram = grey.histogram()
    return 1 - sum(histogram[245:]) / sum(histogram)
