"""Statistics: checked against hand-derived constants, published values and (when installed)
scipy / scikit-learn."""

from __future__ import annotations

import math
import random

import pytest

from promptops.eval import stats


# -- wilson --------------------------------------------------------------------------------------

@pytest.mark.parametrize("k, n, low, high", [
    # k=0: low 0, high = (z²/n)/(1 + z²/n) = 0.38416/1.38416
    (0, 10, 0.0, 0.38416 / 1.38416),
    # k=5,n=10: centre 0.5, half = 1.96·sqrt(0.025 + 3.8416/400)/1.38416 = 0.2634096
    (5, 10, 0.2365904, 0.7634096),
    (10, 10, 1 - 0.38416 / 1.38416, 1.0),
    # 81/263 (Newcombe 1998, independent proportions example): 0.2553 to 0.3662
    (81, 263, 0.2553, 0.3662),
])
def test_wilson_constants(k, n, low, high):
    got = stats.wilson(k, n)
    assert got[0] == pytest.approx(low, abs=1e-4) and got[1] == pytest.approx(high, abs=1e-4)


def test_wilson_edges():
    assert stats.wilson(0, 0) == (0.0, 1.0)
    low, high = stats.wilson(30, 100, z=2.576)
    assert low < 0.3 < high and stats.wilson(30, 100)[0] > low
    with pytest.raises(ValueError):
        stats.wilson(11, 10)


# -- mcnemar -------------------------------------------------------------------------------------

@pytest.mark.parametrize("b, c, p", [
    (0, 0, 1.0),
    (0, 5, 2 / 32),          # 2·P(X ≤ 0), X ~ Bin(5, ½)
    (1, 4, 2 * 6 / 32),      # 2·(1 + 5)/32
    (3, 3, 1.0),             # 2·P(X ≤ 3) = 2·42/64 > 1 → 1
    (2, 10, 2 * 79 / 4096),  # 2·(1 + 12 + 66)/2¹²
])
def test_mcnemar_constants(b, c, p):
    assert stats.mcnemar_exact(b, c) == pytest.approx(p)
    assert stats.mcnemar_exact(c, b) == pytest.approx(p)


def test_mcnemar_matches_scipy_binomtest():
    scipy_stats = pytest.importorskip("scipy.stats")
    for b in range(0, 25, 3):
        for c in range(0, 40, 7):
            if b + c:
                want = scipy_stats.binomtest(b, b + c, 0.5).pvalue
                assert stats.mcnemar_exact(b, c) == pytest.approx(want, rel=1e-9), (b, c)
    assert stats.mcnemar_exact(480, 520) == pytest.approx(scipy_stats.binomtest(480, 1000, 0.5).pvalue, rel=1e-9)


# -- paired differences -------------------------------------------------------------------------

def _paired(both: int, base_only: int, head_only: int, neither: int) -> tuple[list[bool], list[bool]]:
    base = [True] * both + [True] * base_only + [False] * head_only + [False] * neither
    head = [True] * both + [False] * base_only + [True] * head_only + [False] * neither
    return base, head


def test_diff_interval_published_value():
    # Cavo et al. 2012 table (59, 6 / 16, 80); Fagerland, Lydersen & Laake, ch. 8, Newcombe
    # square-and-add: estimate -0.0621, 95 % CI -0.1186 to -0.0046 (head = the table's rows)
    base, head = _paired(both=59, base_only=16, head_only=6, neither=80)
    delta, low, high = stats.diff_interval(base, head)
    assert delta == pytest.approx(-10 / 161)
    assert low == pytest.approx(-0.1186, abs=1e-4) and high == pytest.approx(-0.0046, abs=1e-4)


def test_diff_interval_edges():
    assert stats.diff_interval([], []) == (0.0, -1.0, 1.0)
    delta, low, high = stats.diff_interval([True] * 20, [True] * 20)
    assert delta == 0.0 and low < 0 < high
    delta, low, high = stats.diff_interval([False] * 30, [True] * 30)
    assert delta == 1.0 and 0.7 < low < 1.0 and high == 1.0
    with pytest.raises(ValueError, match="differ in length"):
        stats.diff_interval([True], [True, False])


def test_paired_counts_test_and_interval_in_one():
    base, head = _paired(both=59, base_only=16, head_only=6, neither=80)
    got = stats.paired(base, head)
    assert (got.n, got.a_passed, got.b_passed, got.b, got.c) == (161, 75, 65, 16, 6)
    assert got.p_value == stats.mcnemar_exact(16, 6)
    assert (got.delta, got.low, got.high) == stats.diff_interval(base, head)
    assert got.low == pytest.approx(-0.1186, abs=1e-4) and got.high == pytest.approx(-0.0046, abs=1e-4)
    flipped = stats.paired(head, base)  # the other way round: the same test, the mirrored interval
    assert (flipped.b, flipped.c, flipped.p_value) == (6, 16, got.p_value)
    assert flipped.delta == pytest.approx(-got.delta)
    assert flipped.low == pytest.approx(-got.high) and flipped.high == pytest.approx(-got.low)


def test_paired_edges():
    empty = stats.paired([], [])
    assert (empty.n, empty.b, empty.c, empty.p_value, empty.delta, empty.low, empty.high) == (0, 0, 0, 1.0, 0.0, -1.0, 1.0)
    same = stats.paired([True, False, True], [True, False, True])
    assert (same.b, same.c, same.p_value, same.delta) == (0, 0, 1.0, 0.0)
    with pytest.raises(ValueError, match="differ in length"):
        stats.paired([True], [True, False])


def test_paired_bootstrap():
    rng = random.Random(1)
    base = [rng.random() for _ in range(200)]
    head = [b + 0.1 for b in base]
    delta, low, high = stats.paired_bootstrap(base, head, iterations=500)
    assert delta == pytest.approx(0.1) and low == pytest.approx(0.1) and high == pytest.approx(0.1)
    base, head = _paired(both=50, base_only=5, head_only=20, neither=25)
    delta, low, high = stats.paired_bootstrap([float(x) for x in base], [float(x) for x in head])
    assert delta == pytest.approx(0.15) and 0.0 < low < 0.15 < high < 0.3
    assert stats.paired_bootstrap(base, head, seed=3) == stats.paired_bootstrap(base, head, seed=3)
    # it agrees roughly with the Newcombe interval on the same data
    _, n_low, n_high = stats.diff_interval(base, head)
    assert abs(low - n_low) < 0.04 and abs(high - n_high) < 0.04
    assert stats.paired_bootstrap([], []) == (0.0, -1.0, 1.0)


# -- percentile ---------------------------------------------------------------------------------

@pytest.mark.parametrize("values, q, want", [
    ([], 50, None),
    ([7.0], 95, 7.0),
    ([1, 2, 3, 4], 50, 2.5),
    (list(range(1, 11)), 95, 9.55),  # position 9·0.95 = 8.55 → 9 + 0.55·(10 − 9)
    ([5, 1, 3], 0, 1),
    ([5, 1, 3], 100, 5),
])
def test_percentile(values, q, want):
    got = stats.percentile(values, q)
    assert got == (None if want is None else pytest.approx(want))


def test_percentile_matches_numpy():
    np = pytest.importorskip("numpy")
    rng = random.Random(7)
    values = [rng.expovariate(0.01) for _ in range(101)]
    for q in (1, 25, 50, 90, 95, 99):
        assert stats.percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


# -- repeats ------------------------------------------------------------------------------------

def test_pass_hat_k():
    runs = [[True, True, False], [True, True, True], [False, False, False]]
    # per case C(c,2)/C(3,2): 1/3, 1, 0 → mean 4/9
    assert stats.pass_hat_k(runs, 2) == pytest.approx(4 / 9)
    # k = 1 is the plain pass rate: (2 + 3 + 0)/9
    assert stats.pass_hat_k(runs, 1) == pytest.approx(5 / 9)
    assert stats.pass_hat_k(runs, 3) == pytest.approx(1 / 3)
    assert stats.pass_hat_k([[True]], 2) is None
    assert stats.pass_hat_k([], 1) is None


def test_consistency():
    outputs = [["a", "a ", "a"], ["a", "b", "a"], [None, None], ["x"]]
    assert stats.consistency(outputs) == pytest.approx(3 / 4)
    assert stats.consistency([]) is None


# -- classification -----------------------------------------------------------------------------

PAIRS = [("pos", "pos"), ("pos", "neg"), ("neg", "neg"), ("neg", "neg"), ("neu", "pos"), ("pos", "banana")]


def test_classification_report_hand_computed():
    report = stats.classification_report(PAIRS, labels=["pos", "neg", "neu"])
    assert report["confusion"] == {
        "pos": {"pos": 1, "neg": 1, "neu": 0, "(other)": 1},
        "neg": {"pos": 0, "neg": 2, "neu": 0, "(other)": 0},
        "neu": {"pos": 1, "neg": 0, "neu": 0, "(other)": 0},
    }
    pos, neg, neu = (report["per_label"][k] for k in ("pos", "neg", "neu"))
    # pos: tp 1 of 2 predicted, 3 true → P ½, R ⅓, F1 0.4
    assert (pos["precision"], pos["recall"], pos["support"]) == (0.5, pytest.approx(1 / 3), 3)
    assert pos["f1"] == pytest.approx(0.4)
    # neg: tp 2 of 3 predicted, 2 true → P ⅔, R 1, F1 0.8
    assert neg["precision"] == pytest.approx(2 / 3) and neg["recall"] == 1.0 and neg["f1"] == pytest.approx(0.8)
    assert neu == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["accuracy"] == 0.5
    assert report["macro_f1"] == pytest.approx(0.4)
    # micro: tp 3, fp 2, fn 3 → P 0.6, R 0.5, F1 6/11
    assert report["micro_f1"] == pytest.approx(6 / 11)
    assert report["other"] == 1 and report["support"] == 6


def test_classification_report_matches_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    labels = ["pos", "neg", "neu"]
    y_true, y_pred = zip(*PAIRS)
    report = stats.classification_report(PAIRS, labels=labels)
    p, r, f, s = metrics.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    for i, label in enumerate(labels):
        row = report["per_label"][label]
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == pytest.approx((p[i], r[i], f[i], s[i]))
    assert report["macro_f1"] == pytest.approx(metrics.f1_score(y_true, y_pred, labels=labels, average="macro",
                                                                zero_division=0))
    assert report["micro_f1"] == pytest.approx(metrics.f1_score(y_true, y_pred, labels=labels, average="micro"))
    assert report["accuracy"] == pytest.approx(metrics.accuracy_score(y_true, y_pred))


def test_classification_report_without_labels_and_empty():
    report = stats.classification_report([("b", "b"), ("a", "b"), ("a", "a")])
    assert report["labels"] == ["b", "a"]
    assert report["per_label"]["b"]["precision"] == 0.5 and report["accuracy"] == pytest.approx(2 / 3)
    # an expected label outside the given set is added, not lost
    report = stats.classification_report([("x", "x")], labels=["y"])
    assert report["labels"] == ["y", "x"] and report["per_label"]["x"]["f1"] == 1.0
    empty = stats.classification_report([], labels=["a"])
    assert empty["accuracy"] == 0.0 and empty["macro_f1"] == 0.0 and empty["support"] == 0
    assert math.isfinite(empty["micro_f1"])
