"""Whether text is an article body: word counts, the minimum length, paywall stubs."""

from __future__ import annotations

import re

from rasad.ingest.extract.model import STATUS_NO_TEXT, STATUS_OK, STATUS_PAYWALL

# An article body shorter than this is a stub, a teaser or an error page.
MIN_TEXT_WORDS = 30
# Scripts written without spaces (Chinese, Japanese, Thai): two characters count as a word.
_UNSPACED_RE = re.compile("[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# A paywall notice with more text than this is a metered page that still carries the article.
PAYWALL_MAX_WORDS = 200


_PAYWALL_RE = re.compile(
    r"subscribe (?:now )?to (?:continue|read)|subscribers only|already a subscriber|to continue reading|"
    r"this (?:article|content) is (?:only )?(?:available|reserved) (?:to|for) (?:subscribers|members)|"
    r"create a free account to continue|abonnez-vous pour lire|réservé aux abonnés|"
    r"للمشتركين فقط|اشترك (?:الآن )?لمتابعة القراءة|اشترك للمتابعة|هذا المحتوى (?:متاح|مخصص) للمشتركين|"
    r"لقراءة (?:المقال|المقالة|الخبر) كاملا?ً?،? ?اشترك",
    re.IGNORECASE,
)
_NOT_FREE_RE = re.compile(rb'"isAccessibleForFree"\s*:\s*"?(?:false|False|FALSE)"?')


def count_words(text: str) -> int:
    """Words in ``text``: whitespace-separated, or two characters each in unspaced scripts."""
    return max(len(text.split()), len(_UNSPACED_RE.findall(text)) // 2)


def is_substantial(text: str) -> bool:
    """Enough text to be an article body."""
    return count_words(text) >= MIN_TEXT_WORDS


def judge_page_text(text: str, body: bytes) -> tuple[str, str | None]:
    """(status, reason) of a page's extracted text: ok, a paywall stub, or too short for an article."""
    words = count_words(text)
    if words < PAYWALL_MAX_WORDS:
        not_free = b"isAccessibleForFree" in body and bool(_NOT_FREE_RE.search(body))
        if not_free or _PAYWALL_RE.search(text):
            return STATUS_PAYWALL, f"paywall stub ({words} words)"
    if not is_substantial(text):
        return STATUS_NO_TEXT, f"page text too short ({words} words < {MIN_TEXT_WORDS})"
    return STATUS_OK, None
