"""Quality gate: single-pass clustering on the MStream Google News stream beats the paper's MStream NMI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from enrich.events.eval import PAPER_NMI, evaluate_stream, load_stream, main, resolve_stream

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "story-clustering"
# Pinned a little under what the shipped ClusterConfig measures (News .861, News-T .872,
# `python -m enrich.events.eval ../shared/corpus/story-clustering`), and above MStream.
NMI_FLOOR = {"News": 0.855, "News-T": 0.865}
# The stream is read from ../shared beside the clone (CI has it); its licence does not let us
# copy it into the repo, so a clone without it cannot run this gate and says so.
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"MStream corpus not found at {CORPUS}")


@pytest.mark.parametrize("order", ["News", "News-T"])
def test_nmi_beats_mstream(order):
    result = evaluate_stream(load_stream(resolve_stream(CORPUS, order)))
    assert result["articles"] == 11_109 and result["gold_stories"] == 152
    assert result["nmi"] >= NMI_FLOOR[order] > PAPER_NMI["MStream"][order]
    assert result["nmi_arithmetic"] > PAPER_NMI["MStream"][order]
    assert result["pairwise"]["precision"] >= 0.8


def test_cli_prints_json_next_to_the_paper(capsys):
    assert main([str(CORPUS), "--order", "News-T", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) == {"News-T"}
    assert payload["News-T"]["paper_nmi"] == {"MStream": 0.850, "MStreamF": 0.873, "DTM": 0.806}
    assert payload["News-T"]["nmi"] >= NMI_FLOOR["News-T"]


def test_cli_reports_a_missing_dataset(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "cannot read" in capsys.readouterr().err
