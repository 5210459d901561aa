"""Teams cards rendered by Microsoft's own renderer: the `adaptivecards` npm package (the JavaScript renderer
Teams' web client is built on) in Debian's chromium, with markdown-it processing the Markdown as Teams does.

The schema test (test_teams_card.py) says a card is well-formed; this one says what a person sees: no parse or
validation warnings, the headline and facts as plain text (the escaping undone by Markdown, no stray
backslashes), no link smuggled in through an incident's text, and buttons that open the incident. Both npm
packages are fetched once with `npm pack` (pinned versions) into a cache outside the repository.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, sync_playwright

from parapet.notify import teams
from tests.notify.helpers import incident, notification

CHROMIUM = "/usr/bin/chromium"
PACKAGES = {
    "adaptivecards": ("3.0.6", "package/dist/adaptivecards.min.js"),
    "markdown-it": ("14.1.0", "package/dist/markdown-it.min.js"),
}
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "parapet-tests" / "npm"

RENDER = """([card]) => {
  AdaptiveCards.AdaptiveCard.onProcessMarkdown = (text, result) => {
    result.outputHtml = window.markdownit().render(text);
    result.didProcess = true;
  };
  const ac = new AdaptiveCards.AdaptiveCard();
  window.opened = [];
  ac.onExecuteAction = (action) => window.opened.push(action.url);
  const context = new AdaptiveCards.SerializationContext();
  ac.parse(card, context);
  const events = [];
  for (let i = 0; i < context.eventCount; i++) events.push(context.getEventAt(i).message);
  for (const e of ac.validateProperties().validationEvents) events.push(e.message);
  const element = ac.render();
  document.getElementById("card").replaceChildren(element);
  return {
    events,
    text: element.innerText,
    links: [...element.querySelectorAll("a")].map((a) => a.getAttribute("href")),
    buttons: [...element.querySelectorAll("button")].map((b) => b.innerText.trim()),
  };
}"""


def _script(name: str) -> Path:
    version, member = PACKAGES[name]
    target = CACHE / f"{name}-{version}.js"
    if target.is_file():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            ["npm", "pack", f"{name}@{version}", "--pack-destination", str(CACHE)],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"npm pack {name}@{version} failed: {exc}")
        pytest.skip(f"npm pack {name}@{version} failed: {exc}")
    archive = CACHE / f"{name}-{version}.tgz"
    with tarfile.open(archive) as tar:
        source = tar.extractfile(member)
        assert source is not None
        target.write_bytes(source.read())
    archive.unlink()
    return target


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing")
    scripts = [_script("markdown-it"), _script("adaptivecards")]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        tab = browser.new_page(viewport={"width": 600, "height": 900})
        tab.set_content('<!doctype html><html><body><div id="card"></div></body></html>')
        for script in scripts:
            tab.add_script_tag(path=str(script))
        yield tab
        browser.close()


def render(page: Page, card: dict[str, Any], name: str) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(RENDER, [card])
    artifacts = os.environ.get("PARAPET_TEST_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        page.locator("#card").screenshot(path=str(Path(artifacts) / f"teams-card-{name}.png"))
    return result


def test_the_official_renderer_shows_the_card_as_written(page: Page) -> None:
    note = notification(
        event="acknowledged",
        actor="alice",
        incident=incident(
            state="acknowledged",
            acknowledged_by="alice",
            labels={"env": "prod", "trap": "[click](https://evil.example) *not bold*"},
        ),
    )
    result = render(page, teams.card(note), "acknowledged")
    assert result["events"] == []
    text = result["text"]
    assert "[ACKNOWLEDGED] #12 Checkout availability is burning its error budget 14x" in text
    assert "Acknowledged by alice" in text
    assert "[click](https://evil.example) *not bold*" in text  # shown as written, not as a link
    assert "\\" not in text
    assert "https://evil.example" not in result["links"]
    assert result["buttons"] == ["Open in Parapet", "Runbook"]
    page.locator("#card button", has_text="Open in Parapet").click(timeout=5000)
    assert page.evaluate("window.opened") == [note.url]


def test_the_official_renderer_takes_the_cut_down_card_of_a_huge_incident(page: Page) -> None:
    huge = incident(title="t" * 100_000, summary="s" * 100_000, labels={f"l{i}": "v" * 5000 for i in range(50)})
    card = json.loads(teams.payload(notification(incident=huge)))["attachments"][0]["content"]
    result = render(page, card, "huge")
    assert result["events"] == []
    assert "…" in result["text"] and result["buttons"][0] == "Open in Parapet"
