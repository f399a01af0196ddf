"""Quality gate: single-pass clustering on the MStream Google News stream, one default configuration.

Issue 12, bar 4: on both orders, NMI >= .85, BCubed F1 >= .75 and no more than 2 predicted events
per gold story. The defaults were tuned on the News order and checked on News-T (docs/events.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rasad.enrich.events.eval import PAPER_NMI, evaluate_stream, load_stream, main, resolve_stream

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "story-clustering"
# Pinned a little under what the shipped ClusterConfig measures
# (`rasad events eval ../shared/corpus/story-clustering`: News NMI .882, BCubed F1 .759,
# 287 events = 1.89 per story; News-T .887, .771, 281 = 1.85), and above MStream's NMI.
NMI_FLOOR = {"News": 0.87, "News-T": 0.875}
BCUBED_F1_FLOOR = {"News": 0.75, "News-T": 0.76}
MAX_EVENTS_PER_STORY = 2.0
# The stream is read from ../shared beside the clone (CI has it); its licence does not let us
# copy it into the repo, so a clone without it cannot run this gate and says so.
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"MStream corpus not found at {CORPUS}")


@pytest.mark.parametrize("order", ["News", "News-T"])
def test_nmi_beats_mstream(order):
    result = evaluate_stream(load_stream(resolve_stream(CORPUS, order)))
    assert result["articles"] == 11_109 and result["gold_stories"] == 152
    assert result["nmi"] >= NMI_FLOOR[order] > PAPER_NMI["MStream"][order]
    assert result["nmi_arithmetic"] > PAPER_NMI["MStream"][order]
    assert result["bcubed"]["f1"] >= BCUBED_F1_FLOOR[order]
    assert result["predicted_events"] <= MAX_EVENTS_PER_STORY * result["gold_stories"]
    assert result["events_per_gold_story"] == result["predicted_events"] / result["gold_stories"]
    # Fewer events must not come from one event swallowing the stream (a size prior without a
    # cap did that on News-T: pairwise precision .09).
    assert result["pairwise"]["precision"] >= 0.64 and result["bcubed"]["precision"] >= 0.72


def test_cli_prints_json_next_to_the_paper(capsys):
    assert main([str(CORPUS), "--order", "News-T", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) == {"News-T"}
    assert payload["News-T"]["paper_nmi"] == {"MStream": 0.850, "MStreamF": 0.873, "DTM": 0.806}
    assert payload["News-T"]["nmi"] >= NMI_FLOOR["News-T"]


def test_cli_reports_a_missing_dataset(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "cannot read" in capsys.readouterr().err
