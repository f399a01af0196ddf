"""`rasad seeds check`: the shipped data is valid and covers every hand-checked seed mention."""

import shutil
from pathlib import Path

from rasad.enrich.cli_tag import main
from rasad.enrich.knowledge import expand_templates, load_knowledge_with_problems

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


def test_shipped_seeds_pass_check(capsys):
    assert main(["seeds", "check"]) == 0
    out = capsys.readouterr().out
    assert "coverage:" in out and "(100.0%)" in out
    knowledge, problems = load_knowledge_with_problems(SEEDS)
    assert problems == []
    assert len(knowledge.entities) > 50


def test_check_reports_broken_data(tmp_path, capsys):
    shutil.copy(SEEDS / "taxonomy.yaml", tmp_path / "taxonomy.yaml")
    (tmp_path / "entities.yaml").write_text(
        "entities:\n"
        "- {id: a, type: place, name: A, name_ar: ا, aliases: {ar: [كابل]}, evidence: [x]}\n"
        "- {id: b, type: place, name: B, name_ar: ب, aliases: {ar: [كابل, {text: خراسان, context: true}]}, evidence: [x]}\n"
        "- {id: d, type: place, name: D, name_ar: د, aliases: {ar: [كابل]}, evidence: [x]}\n"
        "- {id: d, type: planet, name: C, name_ar: ج, aliases: {ar: [زحل]}}\n",
        encoding="utf-8")
    _, problems = load_knowledge_with_problems(tmp_path)
    text = "\n".join(problems)
    assert "duplicate id" in text
    assert "planet" in text
    assert "unconditional for several entities" in text
    assert "no context cues" in text
    assert "no seed evidence" in text
    assert main(["seeds", "check", "--seeds", str(tmp_path)]) == 1


def test_transliteration_templates():
    assert set(expand_templates("شوي{g}و")) == {"شويغو", "شويجو", "شويقو", "شويكو"}
    assert expand_templates("بوتين") == ["بوتين"]
