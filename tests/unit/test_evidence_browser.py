"""The evidence report in a real headless browser (issue 19, item 5): it loads offline, asks for
nothing outside the file, and its plots decode. Slow (starts chromium); skipped without one."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")),
                       reason="no chromium (scripts/install-chromium.sh)"),
]  # fmt: skip


def _script():  # noqa: ANN202 - the scripts/evidence_screenshot.py module
    spec = importlib.util.spec_from_file_location("evidence_screenshot", REPO / "scripts" / "evidence_screenshot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_report_renders_offline_with_its_plots(tmp_path: Path) -> None:
    script = _script()
    page = tmp_path / "report.html"
    page.write_text(script.sample_report(), encoding="utf-8")
    result = script.check_and_screenshot(page, tmp_path / "report.png")
    assert result["external_requests"] == []
    assert len(result["images"]) == 2 and all(loaded for _, loaded in result["images"]), result["images"]
    assert result["title"].startswith("dr-drill") and (tmp_path / "report.png").stat().st_size > 50_000


def test_the_check_sees_a_page_that_reaches_out(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text('<html><body><img alt="x" src="http://127.0.0.1:9/x.png"></body></html>')
    result = _script().check_and_screenshot(page, tmp_path / "bad.png")
    assert result["external_requests"] == ["http://127.0.0.1:9/x.png"]
    assert result["images"] == [["x", False]]
