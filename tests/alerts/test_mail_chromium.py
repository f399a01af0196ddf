"""Bar 3: a digest with Arabic and English items, rendered by headless Chromium (Debian's ``chromium``).

The page is the mail's own HTML part; the test appends a small script (to its copy only)
that writes each item's computed CSS ``direction`` into the DOM, which ``--dump-dom``
returns. A screenshot is kept under tests/artifacts/ for a human to look at.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path

import pytest

from rasad.alerts.items import item_from_match
from rasad.alerts.match import match_article
from rasad.alerts.plan import MailPlan
from rasad.alerts.render import build_mail
from rasad.alerts.rules import validate_rules
from tests.alerts.conftest import at, make_article

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--allow-file-access-from-files",
]

PROBE = """<script>
const out = [...document.querySelectorAll('.item')].map(el => ({
  key: el.dataset.key, lang: el.lang,
  direction: getComputedStyle(el).direction,
  title_direction: getComputedStyle(el.querySelector('h3')).direction,
  snippet_direction: (s => s ? getComputedStyle(s).direction : null)(el.querySelector('.snippet')),
  text_align: getComputedStyle(el).textAlign,
}));
const pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);
</script>"""

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="run scripts/install-system-deps.sh (chromium)"
)


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def _digest_html() -> tuple[str, dict[str, str]]:
    rules, problems = validate_rules(
        textwrap.dedent("""
        rules:
          - name: russia-taliban-digest
            keywords: [طالبان, Taliban, داعش خراسان, ISIS-K]
            recipients: [analyst@example.org]
            mode: hourly
            timezone: Asia/Riyadh
    """)
    )
    assert problems == []
    rule = rules[0]
    ar_text = "أعلنت موسكو اعترافها بحكومة طالبان، وقال الكرملين إن القرار يفتح الباب أمام تعاون أوسع."
    en_text = "Moscow became the first country to recognise the Taliban administration in Kabul."
    articles = [
        make_article("روسيا تعترف رسمياً بحكومة طالبان في أفغانستان", ar_text, event_id="ev-1"),
        make_article(
            "Russia formally recognises the Taliban government", en_text, lang="en", source="Global Wire"
        ),
        # Starts with Latin letters: only the item's own direction keeps it right-to-left.
        make_article("ISIS-K: روسيا تحذر من تصاعد تهديد داعش خراسان", "حذرت موسكو من تهديد داعش خراسان."),
        # Starts with an Arabic quotation: only the item's own direction keeps it left-to-right.
        make_article(
            "«طالبان» delegation meets Russian officials",
            "A Taliban delegation met officials.",
            lang="en",
            source="Wire «خبر»",
        ),
    ]
    items = []
    for a in articles:
        m = match_article(rule, a)
        assert m is not None, a.title
        items.append(item_from_match(m, "2025-11-22T10:00:00Z"))
    plan = MailPlan("c" * 32, rule, "hourly", items, window=(at("2025-11-22 10:00"), at("2025-11-22 11:00")))
    msg = build_mail(
        plan,
        mail_from="alerts@rasad.example",
        rules_file="config/rules.yaml",
        kibana_url="http://127.0.0.1:5601",
        date=at("2025-11-22 11:00"),
    )
    return msg.get_body(("html",)).get_content(), {i.key: i.language or "" for i in items}


def test_digest_directions_in_headless_chromium(tmp_path):
    page, langs = _digest_html()
    assert "<script" not in page.lower()  # the mail itself has no script; the probe is the test's
    probe_page = tmp_path / "digest-probe.html"
    probe_page.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="rasad-chromium-") as profile:
        res = _chromium(["--dump-dom", probe_page.as_uri()], Path(profile))
    assert res.returncode == 0, res.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', res.stdout, re.S)
    assert found, res.stdout[-2000:]
    rows = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert len(rows) == 4 and {r["key"] for r in rows} == set(langs)
    for r in rows:
        want = "rtl" if langs[r["key"]] == "ar" else "ltr"
        assert (r["lang"], r["direction"], r["title_direction"], r["snippet_direction"]) == (
            langs[r["key"]],
            want,
            want,
            want,
        ), r
        assert r["text_align"] in (("right", "-webkit-right") if want == "rtl" else ("left", "-webkit-left"))
    assert sorted(r["direction"] for r in rows) == ["ltr", "ltr", "rtl", "rtl"]

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "alert-digest-ar-en.png"
    shot.unlink(missing_ok=True)
    page_file = tmp_path / "digest.html"
    page_file.write_text(page, encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="rasad-chromium-") as profile:
        res = _chromium([f"--screenshot={shot}", "--window-size=900,1300", page_file.as_uri()], Path(profile))
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (ARTIFACTS / "alert-digest-ar-en.html").write_text(page, encoding="utf-8")
