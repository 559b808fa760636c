"""Value graphs: PC wiring on data from a known graph, the Schwartz reference, comparison, co-change."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from alignrun.errors import AlignrunError
from alignrun.lib.graphs import Edge, ValueGraph
from alignrun.lib.graphs.cochange import CoChange, cochange, noise_threshold, pooled, predicted
from alignrun.lib.graphs.compare import compare
from alignrun.lib.graphs.pc import pc_graph
from alignrun.lib.graphs.reference import schwartz_reference, wedge_distance
from alignrun.lib.graphs.render import plot_graph, to_dot, write_graph
from alignrun.profile.schwartz import SCHWARTZ_VALUES

NAMES = ["a", "b", "c", "d", "e"]


def linear_gaussian(n: int = 3000, seed: int = 0) -> np.ndarray:
    """a -> b -> c <- d, c -> e: a chain, a collider at c, and c's child e."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = 0.8 * a + rng.normal(size=n)
    d = rng.normal(size=n)
    c = 0.7 * b - 0.9 * d + rng.normal(size=n)
    e = 0.8 * c + rng.normal(size=n)
    return np.stack([a, b, c, d, e], axis=1)


def test_pc_recovers_the_skeleton_and_the_collider() -> None:
    graph = pc_graph(linear_gaussian(), NAMES, alpha=0.05)
    assert graph.skeleton() == {frozenset(p) for p in ("ab", "bc", "dc", "ce")}
    kinds = {(e.source, e.target): e.kind for e in graph.edges}
    assert kinds[("b", "c")] == kinds[("d", "c")] == "directed"  # the v-structure b -> c <- d
    assert kinds[("c", "e")] == "directed"  # Meek's rule 1: b -> c - e, b and e not adjacent
    assert next(e for e in graph.edges if e.pair == frozenset("ab")).kind == "undirected"  # not identifiable
    signs = {e.pair: e.sign for e in graph.edges}
    assert signs[frozenset("dc")] == -1 and signs[frozenset("bc")] == 1
    assert graph.meta["alpha"] == 0.05 and graph.meta["n_samples"] == 3000 and graph.meta["test"] == "fisherz"


def test_pc_finds_no_edges_in_independent_data() -> None:
    data = np.random.default_rng(1).normal(size=(2000, 4))
    assert pc_graph(data, list("wxyz"), alpha=0.01).edges == []


def test_possible_descendants_follow_arrows_and_undirected_edges() -> None:
    graph = pc_graph(linear_gaussian(), NAMES)
    assert graph.possible_descendants("b") == {"a", "c", "e"}  # a via the undirected a - b
    assert graph.possible_descendants("d") == {"c", "e"}
    assert graph.possible_descendants("e") == set()  # never against an arrowhead
    assert graph.neighbours("c") == {"b", "d", "e"}
    bidirected = ValueGraph(["x", "y"], [Edge("x", "y", "bidirected")])
    assert bidirected.possible_descendants("x") == set()


def test_pc_guards_bad_samples() -> None:
    data = linear_gaussian(200)
    with pytest.raises(AlignrunError, match="non-finite"):
        pc_graph(np.where(np.arange(5) == 2, np.nan, data), NAMES)
    with pytest.raises(AlignrunError, match="at least 5 samples"):
        pc_graph(data[:4], NAMES)
    with pytest.raises(AlignrunError, match="one column per value"):
        pc_graph(data, NAMES[:3])
    with pytest.raises(AlignrunError, match="alpha"):
        pc_graph(data, NAMES, alpha=1.5)
    constant = data.copy()
    constant[:, 4] = 0.25  # a value that never moved: isolated, not "dependent on everything"
    graph = pc_graph(constant, NAMES)
    assert graph.meta["constant"] == ["e"] and "e" not in {v for p in graph.skeleton() for v in p}
    few = pc_graph(data[:8], NAMES)  # conditioning sets capped so that n - |S| - 3 >= 1
    assert few.meta["max_depth"] == 4


# Schwartz (2012), Fig. 1: the construction documented in alignrun/lib/graphs/reference.py
POSITIVE = {
    ("self_direction", "stimulation"), ("stimulation", "hedonism"), ("hedonism", "achievement"),
    ("achievement", "power"), ("power", "security"), ("security", "conformity"), ("security", "tradition"),
    ("conformity", "tradition"), ("conformity", "benevolence"), ("tradition", "benevolence"),
    ("benevolence", "universalism"), ("self_direction", "universalism"),
}  # fmt: skip
NEGATIVE = {
    ("self_direction", "security"), ("stimulation", "security"), ("stimulation", "conformity"),
    ("stimulation", "tradition"), ("hedonism", "conformity"), ("hedonism", "tradition"),
    ("hedonism", "benevolence"), ("achievement", "benevolence"), ("achievement", "universalism"),
    ("power", "universalism"),
}  # fmt: skip


def test_reference_graph_edges() -> None:
    ref = schwartz_reference()
    assert ref.nodes == list(SCHWARTZ_VALUES)
    signed = {e.pair: e.sign for e in ref.edges}
    assert {p for p, s in signed.items() if s > 0} == {frozenset(p) for p in POSITIVE}
    assert {p for p, s in signed.items() if s < 0} == {frozenset(p) for p in NEGATIVE}
    assert len(ref.edges) == 22 and all(e.kind == "undirected" for e in ref.edges)
    # the one pair across the circle that is not across a bipolar dimension stays unconnected
    assert wedge_distance("self_direction", "power") == 4
    assert frozenset(("self_direction", "power")) not in signed
    sub = schwartz_reference(["power", "universalism", "security", "unknown"])
    assert sub.nodes == ["power", "security", "universalism"]
    assert {e.pair: e.sign for e in sub.edges} == {
        frozenset(("power", "security")): 1,
        frozenset(("power", "universalism")): -1,
    }


def test_compare_counts_by_hand() -> None:
    ref = ValueGraph(list("abcd"), [Edge("a", "b", sign=1), Edge("b", "c", sign=-1), Edge("c", "d", sign=1)])
    learnt = ValueGraph(
        list("abcd"), [Edge("a", "b", "directed", 1), Edge("c", "b", "directed", 1), Edge("a", "d", sign=1)]
    )
    got = compare(learnt, ref)
    assert got["precision"] == pytest.approx(2 / 3) and got["recall"] == pytest.approx(2 / 3)
    assert got["f1"] == pytest.approx(2 / 3)
    assert got["shd"] == 2  # a-d extra, c-d missing; orientation not counted
    assert got["sign_agreement"] == 0.5  # a-b agrees, b-c does not
    assert got["chance_precision"] == pytest.approx(3 / 6)
    empty = compare(ValueGraph(list("abcd"), []), ref)
    assert "precision" not in empty and empty["recall"] == 0 and empty["shd"] == 3


def test_cochange_rates_by_hand() -> None:
    shifts = [{"t": 0.5, "x": 0.2, "y": 0.01, "z": -0.3}, {"t": 0.4, "x": 0.0, "y": 0.02, "z": 0.0}]
    got = cochange(shifts, "t", {"x", "y"}, threshold=0.1)
    assert got == CoChange(expected=1 / 4, unexpected=1 / 2, n_expected=4, n_unexpected=2)
    assert cochange(shifts, "t", set(), 0.1).expected is None
    both = pooled([got, CoChange(1.0, 0.0, 4, 2)])
    assert both == CoChange(expected=5 / 8, unexpected=1 / 4, n_expected=8, n_unexpected=4)
    assert got.metrics("p") == {
        "p/n_expected": 4.0,
        "p/n_unexpected": 2.0,
        "p/expected": 0.25,
        "p/unexpected": 0.5,
    }
    assert noise_threshold([{"x": 0.3, "y": -0.4}]) == pytest.approx(2 * (0.125**0.5))
    with pytest.raises(AlignrunError, match="placebo"):
        noise_threshold([])
    ref = schwartz_reference()
    assert predicted(ref, "benevolence", "neighbours") == {
        "conformity", "tradition", "universalism", "hedonism", "achievement"
    }  # fmt: skip
    with pytest.raises(AlignrunError, match="reach"):
        predicted(ref, "benevolence", "cousins")


def test_graph_files_round_trip(tmp_path: Path) -> None:
    graph = pc_graph(linear_gaussian(500), NAMES)
    artefacts = write_graph(graph, tmp_path)
    assert artefacts == {"graph_json": "graph.json", "graph_dot": "graph.dot"}
    again = ValueGraph.load(tmp_path)  # a run dir works as well as its graph.json
    assert again.nodes == graph.nodes and again.edges == graph.edges
    dot = (tmp_path / "graph.dot").read_text()
    assert dot.startswith("digraph value_graph {") and '"b" -> "c"' in dot
    assert '"a" -> "b" [color="#2a7d2a", label="+", dir=none];' in to_dot(graph)
    plot_graph(graph, tmp_path / "graph.png", schwartz_reference())
    assert (tmp_path / "graph.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_graphs_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(AlignrunError, match="no value graph"):
        ValueGraph.load(tmp_path / "missing")
    (tmp_path / "graph.json").write_text("{not json")
    with pytest.raises(AlignrunError, match="cannot be read"):
        ValueGraph.load(tmp_path)
    (tmp_path / "graph.json").write_text(json.dumps({"nodes": ["a"], "edges": [{"source": "a"}]}))
    with pytest.raises(AlignrunError, match="not a value graph"):
        ValueGraph.load(tmp_path)
    with pytest.raises(AlignrunError, match="not in the graph"):
        ValueGraph(["a", "b"], [Edge("a", "c")])
    with pytest.raises(AlignrunError, match="at most one edge"):
        ValueGraph(["a", "b"], [Edge("a", "b"), Edge("b", "a", "directed")])
    with pytest.raises(AlignrunError, match="kind"):
        ValueGraph(["a", "b"], [Edge("a", "b", "sideways")])
