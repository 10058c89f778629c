#!/usr/bin/env python3
"""Regenerates the reference values in this folder.

Needs scipy, numpy and mpmath (Debian: apt-get install python3-scipy
python3-mpmath). Run from this folder: python3 gen_reference.py. The Go tests
never run it; they read the JSON it writes.

Distribution functions come from mpmath at 50 significant digits (the exact
value rounded to float64), test statistics from scipy.stats, cross-checked
here against mpmath where the formula allows.
"""
import json

import mpmath as mp
import numpy as np
import scipy
from scipy import stats

mp.mp.dps = 50


def f(x):
    return float(x)


def t_sf(t, df):
    t, df = mp.mpf(t), mp.mpf(df)
    x = df / (df + t * t)
    tail = mp.betainc(df / 2, mp.mpf(1) / 2, 0, x, regularized=True) / 2
    return tail if t >= 0 else 1 - tail


def t_cdf(t, df):
    return 1 - t_sf(t, df)


def t_pdf(t, df):
    t, df = mp.mpf(t), mp.mpf(df)
    return mp.gamma((df + 1) / 2) / (mp.sqrt(df * mp.pi) * mp.gamma(df / 2)) * (1 + t * t / df) ** (-(df + 1) / 2)


def t_ppf(p, df):
    """Newton's method at 50 digits from scipy's double-precision guess."""
    p = mp.mpf(p)
    x = mp.mpf(stats.t.ppf(float(p), float(df)))
    for _ in range(100):
        step = (t_cdf(x, df) - p) / t_pdf(x, df)
        x -= step
        if abs(step) < mp.mpf(10) ** -40 * max(1, abs(x)):
            break
    return x


def dump(name, obj):
    obj["generator"] = (
        f"gen_reference.py: scipy {scipy.__version__}, numpy {np.__version__}, "
        f"mpmath {mp.__version__} at {mp.mp.dps} digits"
    )
    with open(name, "w") as fh:
        json.dump(obj, fh, indent=1)
        fh.write("\n")


def mp_mean(x):
    return mp.fsum(mp.mpf(v) for v in x) / len(x)


def mp_var(x):
    m = mp_mean(x)
    return mp.fsum((mp.mpf(v) - m) ** 2 for v in x) / (len(x) - 1)


rng = np.random.default_rng(20240611)


def rounded(xs, digits=6):
    return [round(float(v), digits) for v in xs]


# --- Student t distribution and the incomplete beta function --------------
cdf_cases = []
for df in [0.5, 1, 2, 2.5, 3, 5, 10, 17.776, 30, 100, 1000, 3000, 1e4, 3e4, 1e5, 1e6]:
    for t in [-50, -10, -3, -1.5, -0.1, 0, 0.1, 1, 2.5, 8, 40]:
        cdf_cases.append({"df": df, "t": t, "cdf": f(t_cdf(t, df)), "sf": f(t_sf(t, df))})
ppf_cases = []
for df in [1, 2, 3, 4, 5, 10, 17.776, 30, 100, 1000]:
    for p in [0.975, 0.95, 0.995, 0.9, 0.5, 0.025, 1e-6]:
        ppf_cases.append({"df": df, "p": p, "t": 0.0 if p == 0.5 else f(t_ppf(p, df))})
beta_cases = []
for a, b, x in [(0.5, 0.5, 0.3), (1, 1, 0.42), (2, 3, 0.2), (5, 0.5, 0.9), (0.5, 50, 0.01),
                (10, 10, 0.5), (30, 40, 0.45), (100, 0.5, 0.97), (2500, 0.5, 0.999),
                (0.25, 3.5, 0.8), (7.5, 12.25, 0.05), (50000, 0.5, 0.99995), (1e-3, 2, 0.5)]:
    beta_cases.append({"a": a, "b": b, "x": x,
                       "i": f(mp.betainc(mp.mpf(a), mp.mpf(b), 0, mp.mpf(x), regularized=True))})
dump("tdist.json", {
    "source": "Student t CDF/SF from the regularized incomplete beta function and quantiles by root finding, both in mpmath",
    "cdf": cdf_cases, "quantile": ppf_cases, "incbeta": beta_cases,
})

# --- Welch t-test -----------------------------------------------------------
sleep1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
sleep2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]
welch_inputs = [
    ("sleep (R datasets), extra by group", sleep1, sleep2),
    ("unequal variances and sizes", rounded(rng.normal(10, 1, 12)), rounded(rng.normal(11, 5, 30))),
    ("larger variance in the smaller sample", rounded(rng.normal(5, 8, 7)), rounded(rng.normal(4, 0.5, 40))),
    ("tiny samples n=2 and n=3", [1.0, 2.5], [3.1, 4.0, 6.2]),
    ("tiny samples n=2 and n=2", [10.0, 12.0], [11.0, 19.0]),
    ("one constant sample", [4.0, 4.0, 4.0, 4.0], [4.5, 5.5, 3.9, 6.1, 5.0]),
    ("large offset", [1e9 + v for v in rounded(rng.normal(0, 1, 20), 4)], [1e9 + v for v in rounded(rng.normal(0.8, 2, 25), 4)]),
    ("large samples, small effect", rounded(rng.lognormal(0, 0.3, 500)), rounded(rng.lognormal(0.02, 0.35, 800))),
    ("strong effect", rounded(rng.normal(0, 1, 15)), rounded(rng.normal(6, 1.5, 18))),
]
welch_cases = []
for name, a, b in welch_inputs:
    # Every quantity at 50 digits from the float64 inputs taken exactly.
    ma, mb = mp_mean(a), mp_mean(b)
    va, vb = mp_var(a), mp_var(b)
    na, nb = len(a), len(b)
    qa, qb = va / na, vb / nb
    df = (qa + qb) ** 2 / (qa ** 2 / (na - 1) + qb ** 2 / (nb - 1))
    se = mp.sqrt(qa + qb)
    t = (ma - mb) / se
    p = 2 * t_sf(abs(t), df)
    q = t_ppf(0.975, df)
    # Cross-check with scipy (whose moments lose digits on the large offset).
    two = stats.ttest_ind(a, b, equal_var=False)
    tol = 1e-6 if name == "large offset" else 1e-9
    assert abs(f(t) - two.statistic) <= tol * abs(f(t)), (name, f(t), two.statistic)
    assert abs(f(p) - two.pvalue) <= tol * f(p), (name, f(p), two.pvalue)
    welch_cases.append({
        "name": name, "a": a, "b": b,
        "t": f(t), "df": f(df), "p": f(p),
        "p_less": f(t_cdf(t, df)), "p_greater": f(t_sf(t, df)),
        "mean_a": f(ma), "mean_b": f(mb), "var_a": f(va), "var_b": f(vb),
        "ci95_lo": f(ma - mb - q * se), "ci95_hi": f(ma - mb + q * se),
        "pooled_df": na + nb - 2,
    })
dump("welch.json", {
    "source": "Welch t, Welch-Satterthwaite df, p-values and the 95 % interval evaluated in mpmath from the "
              "float64 inputs; t and p agree with scipy.stats.ttest_ind(a, b, equal_var=False)",
    "cases": welch_cases,
})

# --- Mann-Whitney U ----------------------------------------------------------
mw_inputs = [
    ("exact n=5 and n=7", rounded(rng.normal(0, 1, 5)), rounded(rng.normal(1, 1, 7))),
    ("exact n=3 and n=3", [1.1, 2.2, 3.3], [4.4, 5.5, 6.6]),
    ("exact n=2 and n=3", [0.5, 3.0], [1.0, 2.0, 4.0]),
    ("exact n=1 and n=5", [2.5], [1.0, 2.0, 3.0, 4.0, 5.0]),
    ("exact n=8 and n=20", rounded(rng.normal(0, 1, 8)), rounded(rng.normal(0.7, 1, 20))),
    ("exact n=8 and n=8 identical spread", rounded(rng.normal(0, 1, 8)), rounded(rng.normal(0, 1, 8))),
    ("exact n=6 and n=300", rounded(rng.normal(0.5, 1, 6)), rounded(rng.normal(0, 1, 300))),
    ("asymptotic n=9 and n=9 no ties", rounded(rng.normal(0, 1, 9)), rounded(rng.normal(1, 1, 9))),
    ("asymptotic because of ties n=6 and n=6", [1, 2, 2, 3, 5, 8], [2, 3, 5, 5, 9, 10]),
    ("asymptotic ties n=4 and n=3", [1.0, 1.0, 2.0, 3.0], [1.0, 4.0, 5.0]),
    ("asymptotic n=30 and n=40 with ties", rounded(rng.gamma(2, 1, 30), 1), rounded(rng.gamma(2.5, 1, 40), 1)),
    ("asymptotic n=200 and n=150 latencies", rounded(rng.lognormal(-2, 0.4, 200), 4), rounded(rng.lognormal(-1.9, 0.4, 150), 4)),
    ("asymptotic U at its mean", [1.0, 4.0, 5.0, 8.0, 9.0, 12.0, 13.0, 16.0, 17.0, 20.0],
     [2.0, 3.0, 6.0, 7.0, 10.0, 11.0, 14.0, 15.0, 18.0, 19.0]),
]
mw_cases = []
for name, a, b in mw_inputs:
    two = stats.mannwhitneyu(a, b, alternative="two-sided", method="auto")
    less = stats.mannwhitneyu(a, b, alternative="less", method="auto")
    greater = stats.mannwhitneyu(a, b, alternative="greater", method="auto")
    ties = len(np.unique(np.concatenate([a, b]))) != len(a) + len(b)
    method = "exact" if (min(len(a), len(b)) <= 8 and not ties) else "asymptotic"
    mw_cases.append({
        "name": name, "a": a, "b": b, "u": f(two.statistic), "p": f(two.pvalue),
        "p_less": f(less.pvalue), "p_greater": f(greater.pvalue), "method": method, "ties": bool(ties),
    })
dump("mannwhitney.json", {
    "source": "scipy.stats.mannwhitneyu(a, b, method='auto', use_continuity=True) for each alternative",
    "cases": mw_cases,
})

# --- proportions -------------------------------------------------------------
prop_cases = []
for xa, na, xb, nb in [(50, 1000, 0, 1000), (3, 200, 1, 250), (12, 400, 10, 380), (0, 30, 4, 30),
                      (7, 7, 2, 9), (25, 5000, 40, 5000), (1, 2, 0, 3), (120, 10000, 80, 10000)]:
    fi = {alt: stats.fisher_exact([[xa, na - xa], [xb, nb - xb]], alternative=alt)[1]
          for alt in ["two-sided", "less", "greater"]}
    case = {"xa": xa, "na": na, "xb": xb, "nb": nb,
            "fisher_p": f(fi["two-sided"]), "fisher_p_less": f(fi["less"]), "fisher_p_greater": f(fi["greater"])}
    p = mp.mpf(xa + xb) / (na + nb)
    if 0 < p < 1:
        z = (mp.mpf(xa) / na - mp.mpf(xb) / nb) / mp.sqrt(p * (1 - p) * (mp.mpf(1) / na + mp.mpf(1) / nb))
        case.update({"z": f(z), "z_p": f(mp.erfc(abs(z) / mp.sqrt(2))),
                     "z_p_greater": f(mp.erfc(z / mp.sqrt(2)) / 2), "z_p_less": f(mp.erfc(-z / mp.sqrt(2)) / 2)})
    prop_cases.append(case)
dump("proportion.json", {
    "source": "scipy.stats.fisher_exact for Fisher's test; the pooled z test evaluated in mpmath",
    "cases": prop_cases,
})

# --- descriptive statistics ---------------------------------------------------
desc_inputs = [
    ("five values", [3.0, 1.0, 4.0, 1.0, 5.0]),
    ("one value", [2.5]),
    ("two values", [-1.0, 7.0]),
    ("latencies", rounded(rng.lognormal(-3, 0.5, 37), 5)),
    ("large offset", [1e9 + v for v in [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]]),
]
qs = [0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1]
desc_cases = []
for name, x in desc_inputs:
    c = {"name": name, "x": x, "mean": f(mp_mean(x)), "q": qs,
         "quantiles": [f(v) for v in np.quantile(x, qs)]}
    if len(x) >= 2:
        c["variance"] = f(mp_var(x))
        m = mp_mean(x)
        h = t_ppf(0.975, len(x) - 1) * mp.sqrt(mp_var(x) / len(x))
        c["ci95_lo"], c["ci95_hi"] = f(m - h), f(m + h)
    desc_cases.append(c)
dump("describe.json", {
    "source": "mean, variance (ddof=1) and the 95 % t interval of the mean in mpmath; numpy.quantile "
              "(method 'linear')",
    "cases": desc_cases,
})
print("ok")
