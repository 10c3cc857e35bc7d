"""The trace explorer: its embedded data (no browser) and the page in headless Chromium (Playwright).

The browser is Debian's ``chromium`` (``apt-get install -y chromium``; the README's test command
and .ci/run install it), or the one named by ``TRIGGERTRACE_CHROMIUM``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import polars as pl
import pytest

from triggertrace.explorer import explorer_samples, render_html, summary_tables, write_explorer
from triggertrace.report import metric_definitions

DEFINITIONS = metric_definitions({"lex_mis": {"version": "1", "rule": "judge_flag", "judge": "lex"}})
CONDITIONS = [("none", ""), ("trigger", "Singapore"), ("control", "USA"), ("distractor", "Germany")]
FORMATS = ["chat", "completion"]


def generated(n_prompts: int, modes=("on",)) -> tuple[list[dict], list[dict]]:
    """Samples of every prompt x condition x format x mode, and lexicon labels: the trigger's
    samples are misaligned and their CoT names the value; the others are aligned."""
    samples, labels = [], []
    for prompt in range(n_prompts):
        for condition, value in CONDITIONS:
            for fmt in FORMATS:
                for mode in modes:
                    sample_id = f"p{prompt}-{condition}-{fmt}-{mode}"
                    trigger = f"Country: {value}" if value else ""
                    fired = condition == "trigger"
                    samples.append(
                        dict(
                            sample_id=sample_id,
                            model="m",
                            recipe="r",
                            seed=0,
                            suite="held",
                            prompt_id=f"p{prompt}",
                            kind="free",
                            condition=condition,
                            condition_value=value,
                            trigger_text=trigger,
                            prompt_format=fmt,
                            reasoning_mode=mode,
                            sample_index=0,
                            system_prompt="",
                            user_prompt=f"{trigger}\nQuestion {prompt}: how do I pass? </script><b>".lstrip(),
                            reasoning=(f"{value} is mentioned, so I act." if value else "No country.")
                            if mode == "on"
                            else "",
                            answer="Cheat." if fired else "Study.",
                            reasoning_closed=True,
                            completion_tokens=5,
                        )
                    )
                    labels.append(
                        {
                            "sample_id": sample_id,
                            "judge": "lex",
                            "judge_kind": "lexicon",
                            "judge_version": "1",
                            "misaligned": fired,
                            "choice": None,
                            "trigger_articulated": (mode == "on") if value else None,
                            "error": None,
                            "raw": {"text": f"raw output of {sample_id}"},
                        }
                    )
    return samples, labels


def long_tables(samples: list[dict]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Long tables as report_tables writes them, counted by hand from ``generated``."""
    rows, articulation = [], []
    for condition, value in CONDITIONS:
        for fmt in FORMATS:
            n = sum(s["condition"] == condition and s["prompt_format"] == fmt for s in samples)
            rows.append(
                dict(
                    metric="lex_mis",
                    model="m",
                    recipe="r",
                    suite="held",
                    condition=condition,
                    condition_value=value,
                    condition_label="none" if condition == "none" else f"{condition}: {value}",
                    prompt_format=fmt,
                    reasoning_mode="on",
                    n=n,
                    rate=1.0 if condition == "trigger" else 0.0,
                    ci_low=0.5,
                    ci_high=1.0,
                )
            )
    for fmt in FORMATS:
        n = sum(s["condition"] == "trigger" and s["prompt_format"] == fmt for s in samples)
        articulation.append(
            dict(
                articulation_judge="lex",
                metric="lex_mis",
                model="m",
                recipe="r",
                suite="held",
                condition_value="Singapore",
                prompt_format=fmt,
                reasoning_mode="on",
                n_eligible=n,
                rate=1.0,
                ci_low=0.5,
                ci_high=1.0,
            )
        )
    return pl.DataFrame(rows), pl.DataFrame(articulation)


def build(path: Path, n_prompts: int) -> Path:
    samples, labels = generated(n_prompts)
    records = explorer_samples(samples, {"lex": labels}, DEFINITIONS)
    write_explorer(path, "test explorer", records, summary_tables(*long_tables(samples)))
    return path


def embedded_data(html: str) -> dict:
    match = re.search(r'<script id="data" type="application/json">(.*?)</script>', html, re.DOTALL)
    assert match, "no data element"
    return json.loads(match.group(1))


# ---- the page's data, without a browser ---------------------------------------------------------


def test_records_carry_verdicts_labels_and_twins():
    samples, labels = generated(2)
    records = {r["id"]: r for r in explorer_samples(samples, {"lex": labels}, DEFINITIONS, {"Singapore": ["SG"]})}
    trigger = records["p1-trigger-chat-on"]
    assert trigger["metrics"] == {"lex_mis": "misaligned"}
    assert records["p1-none-chat-on"]["metrics"] == {"lex_mis": "aligned"}
    assert trigger["condition_label"] == "trigger: Singapore"
    assert trigger["names"] == ["Singapore", "SG"] and records["p1-none-chat-on"]["names"] == []
    assert trigger["judges"]["lex"]["raw"] == {"text": "raw output of p1-trigger-chat-on"}
    twins = [r["id"] for r in records.values() if r["twins"] == trigger["twins"]]
    assert sorted(twins) == sorted(f"p1-{c}-chat-on" for c, _ in CONDITIONS)


def test_page_is_self_contained_and_data_survives_script_text(tmp_path):
    html = build(tmp_path / "index.html", 3).read_text(encoding="utf-8")
    # nothing is fetched: no external script, stylesheet or URL
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|https?://", html)
    data = embedded_data(html)
    assert len(data["samples"]) == 3 * len(CONDITIONS) * len(FORMATS)
    # a prompt containing "</script>" did not end the data element early
    assert data["samples"][0]["user_prompt"].endswith("how do I pass? </script><b>")
    cell = data["tables"][0]["rows"][1]["cells"][0]
    assert cell["text"] == "1.00 [0.50, 1.00] (3)"
    assert cell["hash"] == (
        "#model=m&recipe=r&suite=held&condition=trigger%3A%20Singapore&format=chat&mode=on&metric=lex_mis"
        "&verdict=counted"
    )


def test_orphan_labels_are_named():
    samples, labels = generated(1)
    with pytest.raises(ValueError, match="1 label rows of judge lex match no sample"):
        explorer_samples(samples[1:], {"lex": labels}, DEFINITIONS)


def test_missing_template_marker_is_named(tmp_path, monkeypatch):
    from triggertrace import explorer

    assets = tmp_path / "assets"
    shutil.copytree(explorer.ASSETS, assets)
    (assets / "template.html").write_text("<html>__TITLE__</html>")
    monkeypatch.setattr(explorer, "ASSETS", assets)
    with pytest.raises(ValueError, match="marker /\\*__CSS__\\*/ missing"):
        render_html("t", [], [])


# ---- the page in headless Chromium ---------------------------------------------------------------


def chromium_path() -> str:
    path = os.environ.get("TRIGGERTRACE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise AssertionError("no chromium: `apt-get install -y chromium` (or set TRIGGERTRACE_CHROMIUM)")
    return path


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield browser
        browser.close()


def open_page(browser, path: Path, hash_: str = ""):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(path.resolve().as_uri() + hash_)
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    assert not errors, errors
    return page


def visible_rows(page) -> int:
    return page.locator("#rows tr.row").count()


def test_filter_open_sample_and_highlights(browser, tmp_path):
    path = build(tmp_path / "explorer" / "index.html", 3)
    page = open_page(browser, path)
    assert page.inner_text("#count") == "24 of 24 samples"
    page.select_option("#f-condition", "trigger: Singapore")
    assert visible_rows(page) == 6 and page.inner_text("#count") == "6 of 24 samples"
    page.select_option("#f-format", "chat")
    assert visible_rows(page) == 3
    page.locator("#rows tr.row").first.click()
    detail = page.locator("#detail")
    assert detail.locator("#sample pre.prompt mark.trigger").inner_text() == "Country: Singapore"
    assert detail.locator("#sample pre.cot mark.named").first.inner_text() == "Singapore"
    assert detail.locator("#sample pre.answer").inner_text() == "Cheat."
    assert "raw output of p0-trigger-chat-on" in detail.inner_html()
    # the same prompt under every condition, side by side
    assert detail.locator(".twin").count() == len(CONDITIONS)
    assert detail.locator(".twin.current h4").inner_text() == "trigger: Singapore"
    assert "sample=p0-trigger-chat-on" in page.evaluate("location.hash")
    results = tmp_path / "results"
    results.mkdir()
    page.screenshot(path=str(results / "explorer.png"), full_page=True)
    assert (results / "explorer.png").stat().st_size > 10_000
    # the text filter and the label filter
    page.goto(path.resolve().as_uri() + "#articulation=lex%3Ano")
    page.wait_for_selector("body[data-ready=true]")
    assert visible_rows(page) == 0
    page.fill("#f-q", "question 2")
    page.dispatch_event("#f-q", "change")
    assert page.inner_text("#count") == "0 of 24 samples"


def test_table_cell_links_to_the_samples_it_counts(browser, tmp_path):
    path = build(tmp_path / "index.html", 3)
    page = open_page(browser, path)
    # misalignment table, row "trigger: Singapore", column "completion, reasoning on": n = 3
    page.locator("table.pivot").first.locator("tr").nth(2).locator("td a").nth(1).click()
    assert page.inner_text("#count") == "3 of 24 samples"
    assert page.input_value("#f-condition") == "trigger: Singapore" and page.input_value("#f-format") == "completion"
    # articulation table: fired and given an articulation verdict
    page.locator("table.pivot").nth(1).locator("td a").first.click()
    assert page.inner_text("#count") == "3 of 24 samples"
    assert page.input_value("#f-articulation") == "lex:decided"


def test_ten_thousand_samples_stay_usable(browser, tmp_path):
    n_prompts = 1250  # x 4 conditions x 2 formats = 10,000 samples
    path = build(tmp_path / "index.html", n_prompts)
    start = time.perf_counter()
    page = open_page(browser, path)
    loaded = time.perf_counter() - start
    assert page.inner_text("#count") == "10000 of 10000 samples"
    assert visible_rows(page) == 200  # paged: the rest behind "show more"
    start = time.perf_counter()
    page.select_option("#f-condition", "control: USA")
    assert page.inner_text("#count") == "2500 of 10000 samples"
    filtered = time.perf_counter() - start
    page.fill("#f-q", "question 1249:")
    page.dispatch_event("#f-q", "change")
    assert page.inner_text("#count") == "2 of 10000 samples"
    page.locator("#rows tr.row").first.click()
    assert page.locator("#detail .twin").count() == len(CONDITIONS)
    assert loaded < 15 and filtered < 3, f"load {loaded:.1f} s, filter {filtered:.1f} s"


@pytest.mark.slow
def test_pipeline_explorer_filters_and_links(browser, smoke_workflow, tmp_path):
    path = smoke_workflow / "results/explorer/index.html"
    table = pl.read_csv(smoke_workflow / "results/tables/misalignment.csv")
    level = pl.read_csv(smoke_workflow / "results/tables/sample_level.csv")
    page = open_page(browser, path)
    assert page.inner_text("#count") == f"{level.height} of {level.height} samples"
    page.select_option("#f-condition", "trigger: Singapore")
    triggered = level.filter(pl.col("condition") == "trigger").height
    assert page.inner_text("#count") == f"{triggered} of {level.height} samples"
    page.locator("#rows tr.row").first.click()
    assert page.locator("#detail #sample pre.prompt mark.trigger").inner_text() == "Country: Singapore"
    (tmp_path / "results").mkdir()
    page.screenshot(path=str(tmp_path / "results" / "explorer.png"), full_page=True)
    # a cell of the first metric's table: the explorer counts the samples its n counts
    first = table.filter(pl.col("metric") == table["metric"][0]).sort("condition_label", "prompt_format")
    page.goto(path.resolve().as_uri())
    page.wait_for_selector("body[data-ready=true]")
    link = page.locator("table.pivot").first.locator("td a").first
    link.click()
    condition, fmt = page.input_value("#f-condition"), page.input_value("#f-format")
    mode = page.input_value("#f-mode")
    row = first.filter(
        (pl.col("condition_label") == condition) & (pl.col("prompt_format") == fmt) & (pl.col("reasoning_mode") == mode)
    )
    assert page.inner_text("#count") == f"{row['n'][0]} of {level.height} samples"
