"""Language identification: Arabic vs Persian vs Urdu (one script), mixed text, hints."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from rasad.ingest.language import count_scripts, detect_language

LANGID_TSV = Path(__file__).resolve().parents[1] / "resources" / "ingest" / "langid.tsv"


def load_labelled() -> list[tuple[str, str]]:
    rows = []
    for line in LANGID_TSV.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            label, text = line.split("\t", 1)
            rows.append((label, text))
    return rows


def test_labelled_set_accuracy_at_least_97_percent() -> None:
    rows = load_labelled()
    per_language = Counter(label for label, _ in rows)
    assert all(per_language[code] >= 40 for code in ("ar", "fa", "ur", "en")), per_language
    assert sum(1 for _, text in rows if len(text.split()) <= 3) >= 20  # the very short ones are in there
    errors = [(label, detect_language(text), text) for label, text in rows if detect_language(text) != label]
    accuracy = 1 - len(errors) / len(rows)
    print(f"\nlanguage id: {len(rows)} texts {dict(per_language)}, accuracy {accuracy:.3f}, errors {errors}")
    assert accuracy >= 0.97, errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Arabic article quoting English: Arabic dominates
        (
            'قال المتحدث باسم البيت الأبيض إن "we are monitoring the situation closely" وأضاف أن واشنطن '
            "تتابع التطورات في كابول مع حلفائها، مؤكداً أن أي اعتراف بالحكومة الأفغانية ليس مطروحاً الآن.",
            "ar",
        ),
        # English article with an Arabic phrase: English dominates
        (
            "The Taliban spokesman, speaking in Moscow, said the movement would not allow Afghan territory "
            "to be used against its neighbours, adding «لن نسمح بذلك» before taking questions.",
            "en",
        ),
        ("روسيا تعترف بحكومة طالبان Russia recognises the Taliban government in Kabul officially", "en"),
        ("استقبلت موسكو وفد طالبان في زيارة رسمية Moscow", "ar"),
    ],
)
def test_mixed_arabic_english_dominant_language_wins(text: str, expected: str) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Правительство объявило о новых мерах поддержки экономики.", "ru"),
        ("정부는 경제를 지원하기 위한 새로운 계획을 발표했다.", "ko"),
        ("政府は経済を支援する新たな計画を発表した。", "ja"),
        ("政府宣布了支持经济的新计划。", "zh"),
        ("הממשלה הודיעה על תוכנית חדשה לתמיכה בכלכלה.", "he"),
        ("Le gouvernement a annoncé un nouveau plan de soutien à l'économie.", "fr"),
        ("Hükümet ekonomiyi desteklemek için yeni bir plan açıkladı.", "tr"),
    ],
)
def test_other_scripts_and_languages(text: str, expected: str) -> None:
    assert detect_language(text) == expected


def test_hint_settles_only_short_ambiguous_text() -> None:
    # Two Arabic-script words shared by Arabic, Persian and Urdu: the feed's language decides.
    assert detect_language("وزارت", hint="ur") == "ur"
    assert detect_language("وزارت", hint="fa-IR") == "fa"
    # A full sentence is not overridden by a wrong hint.
    assert (
        detect_language("أعلنت وزارة الصحة تسجيل حالات جديدة من الإصابة بالكوليرا في عدة محافظات.", hint="fa")
        == "ar"
    )
    # A hint from another script is ignored.
    assert detect_language("خبر عاجل من العاصمة", hint="en") == "ar"


def test_no_letters_no_language() -> None:
    assert detect_language("") is None
    assert detect_language("2025 — 12:30 / 100%") is None


def test_count_scripts() -> None:
    assert count_scripts("قال: We 2025 北京 Привет") == {"arabic": 3, "latin": 2, "han": 2, "cyrillic": 6}
