"""Time-decayed document frequencies over streams whose clock jumps far ahead."""

from __future__ import annotations

import math

from rasad.enrich.events.features import DecayedFrequency

YEAR_S = 365 * 86400.0


def test_a_clock_that_jumps_years_ahead_does_not_overflow():
    # Found by bench_e2e: a page dated 2013 followed by one dated 2026 in one batch raised
    # OverflowError in 2**(age/half-life) and stopped the whole batch's clustering.
    df = DecayedFrequency(bits=8, half_life_s=6 * 3600)
    df.add_document([1, 2], 0.0)
    df.add_document([2, 3], 13 * YEAR_S)
    idf = df.idf_many([1, 2, 3], 13 * YEAR_S)
    assert all(math.isfinite(x) for x in idf)
    assert idf[0] > idf[1]  # bucket 1 decayed away entirely; bucket 2 was just seen again
    assert abs(idf[1] - idf[2]) < 1e-9  # both seen once, now: the 2013 count is gone

