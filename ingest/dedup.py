"""Content fingerprints: exact (hash of normalised text) and near-duplicate (MinHash + LSH bands).

Syndicated wire copies differ in headline, a sentence or the boilerplate around them,
so exact hashing is not enough. A 64-value MinHash over 4-word shingles estimates the
Jaccard similarity of two texts; 16 bands of 4 values are stored in Elasticsearch as
keywords, so candidates are found with one terms query and then verified on the full
signature (estimated Jaccard >= ``NEAR_DUP_JACCARD``).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

import numpy as np

NUM_PERM = 64
BANDS = 16
ROWS = NUM_PERM // BANDS
SHINGLE = 4
NEAR_DUP_JACCARD = 0.6
MIN_WORDS_FOR_NEAR_DUP = 40
_MERSENNE = np.uint64((1 << 61) - 1)
_rng = np.random.RandomState(20250502)  # fixed seed: signatures must be stable across runs and machines
_A = _rng.randint(1, 1 << 31, size=NUM_PERM, dtype=np.int64).astype(np.uint64)
_B = _rng.randint(0, 1 << 31, size=NUM_PERM, dtype=np.int64).astype(np.uint64)

_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640\u200b-\u200f\u202a-\u202e\ufeff]")
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
# Arabic presentation forms (legacy encodings, PDFs) need NFKC; it is slow, so only when they occur.
_PRESENTATION = re.compile("[\ufb50-\ufdff\ufe70-\ufeff]")
_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ؤ": "و", "ئ": "ي", "ک": "ك", "ی": "ي"})


def fingerprint_text(text: str) -> str:
    """Normalise text for comparison: case, Arabic letter forms, diacritics, punctuation, spacing."""
    t = unicodedata.normalize("NFKC", text) if _PRESENTATION.search(text) else text
    t = _DIACRITICS.sub("", t).translate(_FOLD).lower()
    return " ".join(_NON_WORD.sub(" ", t).split())


def content_hash(text: str) -> str:
    """Exact fingerprint of an article body (same text modulo formatting -> same hash)."""
    return hashlib.sha1(fingerprint_text(text).encode("utf-8"), usedforsecurity=False).hexdigest()


def title_hash(source: str, title: str) -> str:
    """Hash of a normalised title within one source (Media Cloud's per-source title dedup)."""
    return hashlib.sha1(f"{source}\x00{fingerprint_text(title)}".encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class MinHash:
    signature: tuple[int, ...]

    @property
    def bands(self) -> list[str]:
        """LSH band keys, stored as keywords so candidates are one terms query away."""
        out = []
        for b in range(BANDS):
            chunk = self.signature[b * ROWS : (b + 1) * ROWS]
            h = hashlib.blake2b(repr(chunk).encode(), digest_size=8).hexdigest()
            out.append(f"{b}:{h}")
        return out

    def jaccard(self, other: MinHash) -> float:
        """Estimated Jaccard similarity of the two shingle sets."""
        same = sum(1 for a, b in zip(self.signature, other.signature, strict=True) if a == b)
        return same / NUM_PERM


def minhash_text(text: str) -> MinHash | None:
    """MinHash of 4-word shingles; None for texts too short to judge."""
    words = fingerprint_text(text).split()
    if len(words) < MIN_WORDS_FOR_NEAR_DUP:
        return None
    shingles = {" ".join(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}
    hv = np.fromiter(
        (int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little") >> 3 for s in shingles),
        dtype=np.uint64,
        count=len(shingles),
    )
    # (a*x + b) mod p for every permutation at once; uint64 wraps, which keeps it a hash.
    perm = (np.outer(hv, _A) + _B) % _MERSENNE
    return MinHash(tuple(int(v) for v in perm.min(axis=0)))


def minhash_from_stored(values: list[int] | None) -> MinHash | None:
    """Rebuild a MinHash from its stored signature."""
    if not values or len(values) != NUM_PERM:
        return None
    return MinHash(tuple(int(v) for v in values))
