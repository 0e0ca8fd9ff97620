"""Is a difference between two rows of a comparison larger than the noise between seeds?

Each row of ``lrlc compare`` is trained with several seeds; the seeds change the initial
weights and the order of the data, and the test accuracy moves with them. For two rows with
accuracies a_1..a_n and b_1..b_m (in %):

    difference  d = mean(a) - mean(b)
    its error   s = sqrt(var(a)/n + var(b)/m)           (sample variances, ddof = 1)
    Welch's t   t = d / s, with Welch-Satterthwaite degrees of freedom
                nu = s^4 / ((var(a)/n)^2/(n-1) + (var(b)/m)^2/(m-1))
    95% CI      d -/+ t_{0.975, nu} * s
    p-value     two-sided, P(|T_nu| >= |t|): how often seeds alone would give a difference
                this large if the rows were equally good

Welch's test does not assume the two rows have the same spread (an LC row often varies more
than a convolution). With 3 seeds per row the interval is wide: nu is at most 4 and
t_{0.975, 4} = 2.78, so a difference needs to be about three times its standard error to
leave zero outside the interval. A difference whose interval contains 0 is "inside the
noise" and no claim is made on it. A row with a single seed has no variance, so nothing can
be said against it (``compare_groups`` returns None and the reason).
"""

from __future__ import annotations

import math
import statistics

__all__ = ["compare_groups", "NOISE_NOTE"]

#: how results.md describes a difference whose confidence interval contains zero
NOISE_NOTE = "inside the noise"


def compare_groups(a, b, confidence=0.95):
    """Welch's comparison of two lists of numbers; -> (result dict, None) or (None, why not).

    result: difference (mean(a) - mean(b)), ci_low, ci_high, p, t, df, n_a, n_b,
            noise (True when the interval contains 0)
    """
    from scipy import stats

    a, b = [float(v) for v in a], [float(v) for v in b]
    if len(a) < 2 or len(b) < 2:
        return None, (f"{min(len(a), len(b))} seed{'s' if min(len(a), len(b)) != 1 else ''} in a row: the "
                      f"spread between seeds cannot be estimated (at least 2 per row; 3 or more for a claim)")
    if not 0 < confidence < 1:
        raise ValueError(f"compare_groups: expected confidence in (0, 1), got {confidence!r}")
    n, m = len(a), len(b)
    diff = statistics.mean(a) - statistics.mean(b)
    va, vb = statistics.variance(a) / n, statistics.variance(b) / m
    se = math.sqrt(va + vb)
    if se == 0.0:                                   # every seed gave the same number in both rows
        p = 1.0 if diff == 0 else 0.0
        result = dict(difference=diff, ci_low=diff, ci_high=diff, p=p, t=math.copysign(math.inf, diff) if diff else 0.0,
                      df=float(n + m - 2), n_a=n, n_b=m)
    else:
        df = se ** 4 / ((va ** 2 / (n - 1) if va else 0.0) + (vb ** 2 / (m - 1) if vb else 0.0))
        half = stats.t.ppf(0.5 + confidence / 2, df) * se
        p = float(2 * stats.t.sf(abs(diff) / se, df))   # = scipy.stats.ttest_ind(a, b, equal_var=False)
        result = dict(difference=diff, ci_low=float(diff - half), ci_high=float(diff + half), p=p,
                      t=diff / se, df=float(df), n_a=n, n_b=m)
    result["noise"] = bool(result["ci_low"] <= 0.0 <= result["ci_high"])
    return result, None


def format_comparison(result, why=None):
    """'+1.23 (+0.40 to +2.06), p 0.012' or 'inside the noise' marks, for results.md."""
    if result is None:
        return f"no claim ({why})" if why else "no claim"
    text = (f"{result['difference']:+.2f} ({result['ci_low']:+.2f} to {result['ci_high']:+.2f}), "
            f"p {_p(result['p'])}")
    return f"{text}, {NOISE_NOTE}" if result["noise"] else text


def _p(p):
    return "< 0.001" if p < 0.001 else f"{p:.3f}"
