# SPDX-License-Identifier: Apache-2.0
"""bench/ab_stats.py - the statistics of bench/ab, standard library only.

Two independent samples A (before) and B (after) of one benchmark:

  change      the median change: median over all pairs (a, b) of b / a - 1
              (the Hodges-Lehmann estimate that goes with the rank test; unlike
              median(B) / median(A) - 1, also reported, it does not jump when
              a sample's median falls between two modes of a bimodal benchmark)
  ci          percentile bootstrap interval of that change (A and B resampled
              independently, a fixed seed, so a run is reproducible)
  p           two-sided Mann-Whitney U test: exact distribution of U when
              there are no ties and both samples hold at most EXACT_MAX
              values, else the normal approximation with tie correction and
              continuity correction
  verdict     "REGRESSION" when p < alpha and change > threshold, "improved"
              when p < alpha and change < -threshold, "small" when p < alpha
              but the change is within the threshold, "no change" otherwise

Smaller is better (times, or ratios of times to a baseline).
"""
import math
import random
from functools import lru_cache

EXACT_MAX = 25


def median(xs):
    s = sorted(xs)
    n = len(s)
    if n == 0:
        raise ValueError("median of an empty sample")
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2.0


def ranks(values):
    """1-based ranks of @values, ties given their average rank; also the
    sizes of the tie groups (for the variance correction)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    r = [0.0] * len(values)
    ties = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2.0 + 1.0
        if j > i:
            ties.append(j - i + 1)
        i = j + 1
    return r, ties


@lru_cache(maxsize=None)
def _u_counts(m, n):
    """Number of orderings of m A-values and n B-values (no ties) giving each
    U = number of (a, b) pairs with b > a; a tuple indexed by U (0..m*n).
    The largest value is either a B (it beats all m A-values) or an A."""
    if m == 0 or n == 0:
        return (1,)
    with_b = _u_counts(m, n - 1)     # U shifted by m
    with_a = _u_counts(m - 1, n)
    out = [0] * (m * n + 1)
    for u, c in enumerate(with_b):
        out[u + m] += c
    for u, c in enumerate(with_a):
        out[u] += c
    return tuple(out)


def mann_whitney(a, b):
    """(U, p): U counts the pairs where the B value is larger (ties count
    one half), p is the two-sided p-value. Returns p = 1.0 when either
    sample is empty."""
    m, n = len(a), len(b)
    if m == 0 or n == 0:
        return 0.0, 1.0
    r, ties = ranks(list(a) + list(b))
    u = sum(r[m:]) - n * (n + 1) / 2.0
    if not ties and m <= EXACT_MAX and n <= EXACT_MAX:
        counts = _u_counts(m, n)
        total = float(sum(counts))
        k = int(round(u))
        low = sum(counts[:k + 1]) / total
        high = sum(counts[k:]) / total
        return u, min(1.0, 2.0 * min(low, high))
    big_n = m + n
    tie_term = sum(t ** 3 - t for t in ties) / (big_n * (big_n - 1))
    var = m * n / 12.0 * ((big_n + 1) - tie_term)
    if var <= 0:
        return u, 1.0
    d = u - m * n / 2.0
    z = (abs(d) - 0.5) / math.sqrt(var) if abs(d) >= 0.5 else 0.0
    return u, min(1.0, math.erfc(z / math.sqrt(2.0)))


def pairwise_change(a, b):
    """Median over all pairs of b / a - 1 (Hodges-Lehmann, as a ratio)."""
    return median([y / x for x in a for y in b]) - 1.0


def bootstrap_ci(a, b, level=0.95, iters=1000, seed=1):
    """Percentile bootstrap interval of pairwise_change(A, B)."""
    rng = random.Random(seed)
    out = []
    for _ in range(iters):
        ra = [a[rng.randrange(len(a))] for _ in a]
        rb = [b[rng.randrange(len(b))] for _ in b]
        out.append(pairwise_change(ra, rb))
    out.sort()
    lo = out[int(math.floor((1.0 - level) / 2.0 * (iters - 1)))]
    hi = out[int(math.ceil((1.0 + level) / 2.0 * (iters - 1)))]
    return lo, hi


def spread(xs):
    """Robust relative spread: median absolute deviation / median."""
    m = median(xs)
    return median([abs(x - m) for x in xs]) / m if m else float("inf")


def compare(a, b, threshold, alpha, level=0.95, seed=1):
    """Everything bench/ab reports for one benchmark (a dict)."""
    ma, mb = median(a), median(b)
    change = pairwise_change(a, b)
    lo, hi = bootstrap_ci(a, b, level=level, seed=seed)
    u, p = mann_whitney(a, b)
    if p < alpha and change > threshold:
        verdict = "REGRESSION"
    elif p < alpha and change < -threshold:
        verdict = "improved"
    elif p < alpha:
        verdict = "small"
    else:
        verdict = "no change"
    return {"a_median": ma, "b_median": mb, "change": change,
            "median_change": mb / ma - 1.0, "ci": [lo, hi],
            "ci_level": level, "u": u, "p": p, "verdict": verdict}
