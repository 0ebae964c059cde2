"""grokscope.groups: group axioms, real irreps pinned to known character values, Fourier basis, cache."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import torch

from grokscope.groups import (
    FiniteGroup,
    alternating,
    apply_filter,
    build_group,
    cache_path,
    character_table,
    clear_memory_cache,
    compute_irreps,
    cyclic,
    dihedral,
    fourier_basis,
    fourier_basis_names,
    fourier_filter,
    frequency_of_row,
    frequency_power,
    group_basis,
    irrep_filter,
    irreps,
    max_frequency,
    product,
    symmetric,
)
from grokscope.groups.families import permutation_label, permutations_of

PHI = (1 + math.sqrt(5)) / 2


def hamilton(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Quaternion product of ``(w, x, y, z)`` vectors."""
    w1, x1, y1, z1 = p
    w2, x2, y2, z2 = q
    return np.array(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ]
    )


def quaternion_8() -> FiniteGroup:
    """Q8 = {1, i, j, k, -1, -i, -j, -k}; its 2-d complex irrep is quaternionic (real form: 4-d)."""
    units = np.vstack([np.eye(4), -np.eye(4)])
    table = [[int(np.abs(units - hamilton(p, q)).sum(axis=1).argmin()) for q in units] for p in units]
    return FiniteGroup("quaternion_8", np.array(table), ("1", "i", "j", "k", "-1", "-i", "-j", "-k"))


# key: (builder, order, number of real irreps)
GROUPS = {
    "C12": (lambda: cyclic(12), 12, 7),
    "D5": (lambda: dihedral(5), 10, 4),
    "D6": (lambda: dihedral(6), 12, 6),
    "S3": (lambda: symmetric(3), 6, 3),
    "S4": (lambda: symmetric(4), 24, 5),
    "S5": (lambda: symmetric(5), 120, 7),
    "A4": (lambda: alternating(4), 12, 3),
    "A5": (lambda: alternating(5), 60, 5),
    "C3xS3": (lambda: product(cyclic(3), symmetric(3)), 18, 6),
    "Q8": (quaternion_8, 8, 5),
    "Q8xQ8": (lambda: product(quaternion_8(), quaternion_8()), 64, 25),
}


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GROKSCOPE_CACHE", str(tmp_path / "cache"))
    clear_memory_cache()


@pytest.fixture(scope="module")
def computed():
    return {key: (build(), compute_irreps(build())) for key, (build, _, _) in GROUPS.items()}


def by_name(result):
    return {irrep.name: irrep for irrep in result}


def index_of(group: FiniteGroup, perm) -> int:
    return group.labels.index(permutation_label(perm))


# ---------------------------------------------------------------- groups


@pytest.mark.parametrize("key", GROUPS)
def test_group_axioms_identity_and_inverses(key):
    build, order, _ = GROUPS[key]
    group = build()
    group.check()
    n = group.order
    assert n == order and group.identity == 0
    assert np.array_equal(group.table[0], np.arange(n)) and np.array_equal(group.table[:, 0], np.arange(n))
    assert np.all(group.table[np.arange(n), group.inverse] == 0)
    assert np.all(group.table[group.inverse, np.arange(n)] == 0)


def test_check_rejects_non_groups():
    loop = np.array([[0, 1, 2, 3, 4], [1, 0, 3, 4, 2], [2, 4, 0, 1, 3], [3, 2, 4, 0, 1], [4, 3, 1, 2, 0]])
    with pytest.raises(ValueError, match="not associative"):
        FiniteGroup("loop_5", loop, tuple("abcde")).check()
    with pytest.raises(ValueError, match="Latin square"):
        FiniteGroup("bad", np.zeros((3, 3), dtype=int), ("a", "b", "c")).check()


@pytest.mark.parametrize("n", [5, 6])
def test_dihedral_relations(n):
    group = dihedral(n)
    r, s, t = 1, n, group.table
    assert t[t[s, r], s] == group.inverse[r]  # s r s = r⁻¹
    power = 0
    for _ in range(n):
        power = t[power, r]
    assert power == 0 and t[s, s] == 0
    assert group.labels[:3] == ("e", "r", "r^2") and group.labels[n + 1] == "rs"


@pytest.mark.parametrize("build", [symmetric, alternating])
def test_permutation_groups_lex_order_and_composition(build):
    group = build(4)
    perms = permutations_of(group)
    assert [tuple(p) for p in perms] == sorted(tuple(p) for p in perms)
    assert tuple(perms[0]) == (0, 1, 2, 3)
    # (x ∘ y)(k) = y(x(k)): apply x first.
    assert np.array_equal(perms[group.table], perms[np.arange(len(perms))[None, :, None], perms[:, None, :]])


def test_alternating_is_even_permutations():
    perms = permutations_of(alternating(5))
    assert len(perms) == 60
    inversions = sum((perms[:, i] > perms[:, j]).astype(int) for i in range(5) for j in range(i + 1, 5))
    assert np.all(inversions % 2 == 0)


def test_product_indexing():
    g, h = cyclic(3), symmetric(3)
    group = product(g, h)
    assert group.name == "product_cyclic_3_symmetric_3" and group.labels[7] == "(1, [0 2 1])"
    i, j, k, m = 2, 4, 1, 5
    assert group.table[i * 6 + j, k * 6 + m] == g.table[i, k] * 6 + h.table[j, m]


def test_conjugacy_classes():
    classes = alternating(5).conjugacy_classes()
    assert [len(c) for c in classes][0] == 1 and classes[0].tolist() == [0]
    assert sorted(len(c) for c in classes) == [1, 12, 12, 15, 20]
    assert sorted(len(c) for c in symmetric(5).conjugacy_classes()) == [1, 10, 15, 20, 20, 24, 30]
    assert len(cyclic(12).conjugacy_classes()) == 12


def test_build_group_registry_and_errors():
    assert build_group("dihedral", 5) == dihedral(5)
    assert build_group("product", factors=[{"family": "cyclic", "n": 3}, ("symmetric", 3)]) == product(
        cyclic(3), symmetric(3)
    )
    for family, n, message in [
        ("cyclic", 0, "cyclic: n must be an integer in \\[1, 5040\\], got 0"),
        ("symmetric", 8, "got 8"),
        ("alternating", 2, "alternating: n must be an integer in \\[3, 7\\]"),
        ("dihedral", 2.5, "got 2.5"),
        ("klein", 4, "'klein'; allowed: alternating, cyclic, dihedral, product, symmetric"),
    ]:
        with pytest.raises(ValueError, match=message):
            build_group(family, n)
    with pytest.raises(ValueError, match="at least two"):
        build_group("product", factors=[("cyclic", 3)])


def test_symmetric_6_builds_fast_and_is_a_group():
    group = symmetric(6)
    assert group.order == 720 and len(group.conjugacy_classes()) == 11
    assert np.array_equal(np.sort(group.table, axis=1), np.broadcast_to(np.arange(720), (720, 720)))


# ---------------------------------------------------------------- irreps: generic properties


@pytest.mark.parametrize("key", GROUPS)
def test_irreps_are_orthogonal_homomorphisms(key, computed):
    group, result = computed[key]
    t = group.table
    assert len(result) == GROUPS[key][2] and result[0].name == "trivial"
    for irrep in result:
        m = irrep.matrices
        assert m.shape == (group.order, irrep.dim, irrep.dim)
        assert np.allclose(np.einsum("xij,yjk->xyik", m, m), m[t], atol=1e-8), irrep.name
        assert np.allclose(m @ m.transpose(0, 2, 1), np.eye(irrep.dim), atol=1e-10)
        assert np.allclose(np.trace(m, axis1=1, axis2=2), irrep.character, atol=1e-10)


@pytest.mark.parametrize("key", GROUPS)
def test_characters_orthogonal_and_coefficients_complete(key, computed):
    group, result = computed[key]
    chars = np.array([irrep.character for irrep in result])
    gram = chars @ chars.T / group.order
    assert np.allclose(gram, np.diag([irrep.commutant_dim for irrep in result]), atol=1e-10)
    assert sum(irrep.coefficient_rank for irrep in result) == group.order
    assert [irrep.dim for irrep in result] == sorted(irrep.dim for irrep in result)


@pytest.mark.parametrize("key", GROUPS)
def test_projectors(key, computed):
    group, result = computed[key]
    total = np.zeros((group.order, group.order))
    for irrep in result:
        p = irrep.projector()
        assert np.allclose(p @ p, p, atol=1e-10) and np.allclose(p, p.T)
        assert np.trace(p) == pytest.approx(irrep.coefficient_rank)
        assert np.linalg.matrix_rank(p, tol=1e-8) == irrep.coefficient_rank
        # A function of the character only (rep_theory.md §7): χ(g g'⁻¹).
        quotient = group.table[:, group.inverse]
        expected = irrep.dim / (group.order * irrep.commutant_dim) * irrep.character[quotient]
        assert np.allclose(p, expected, atol=1e-10)
        basis = irrep.coefficient_basis()
        assert np.allclose(basis.T @ basis, np.eye(irrep.coefficient_rank), atol=1e-10)
        assert np.allclose(basis @ basis.T, p, atol=1e-10)
        total += p
    assert np.allclose(total, np.eye(group.order), atol=1e-10)


def test_irreps_are_deterministic():
    first, second = compute_irreps(symmetric(4)), compute_irreps(symmetric(4))
    assert [i.name for i in first] == [i.name for i in second]
    assert all(np.array_equal(a.matrices, b.matrices) for a, b in zip(first, second, strict=True))


# ---------------------------------------------------------------- irreps: names and known characters


def test_cyclic_irreps(computed):
    _, result = computed["C12"]
    assert [i.name for i in result] == ["trivial", "sign", *[f"freq_{k}" for k in range(1, 6)]]
    x = np.arange(12)
    named = by_name(result)
    assert np.allclose(named["sign"].character, (-1.0) ** x, atol=1e-12)
    for k in range(1, 6):
        irrep = named[f"freq_{k}"]
        assert irrep.kind == "complex" and irrep.coefficient_rank == 2
        assert np.allclose(irrep.character, 2 * np.cos(2 * np.pi * k * x / 12), atol=1e-10)
    odd = [i.name for i in compute_irreps(cyclic(7))]
    assert odd == ["trivial", "freq_1", "freq_2", "freq_3"]


@pytest.mark.parametrize("key", ["D5", "D6"])
def test_dihedral_irreps(key, computed):
    group, result = computed[key]
    n = group.order // 2
    names = [i.name for i in result]
    extra = ["sign_r", "sign_rs"] if n % 2 == 0 else []
    assert names == ["trivial", "sign", *extra, *[f"freq_{k}" for k in range(1, (n - 1) // 2 + 1)]]
    a, x = np.arange(2 * n) % n, np.arange(2 * n) // n
    named = by_name(result)
    assert np.allclose(named["sign"].character, (-1.0) ** x, atol=1e-12)
    if extra:
        assert np.allclose(named["sign_r"].character, (-1.0) ** a, atol=1e-12)
        assert np.allclose(named["sign_rs"].character, (-1.0) ** (a + x), atol=1e-12)
    for k in range(1, (n - 1) // 2 + 1):
        irrep = named[f"freq_{k}"]
        assert irrep.kind == "real" and irrep.coefficient_rank == 4
        assert np.allclose(
            irrep.character, np.where(x == 0, 2 * np.cos(2 * np.pi * k * a / n), 0), atol=1e-10
        )


def test_symmetric_5_names_and_characters(computed):
    group, result = computed["S5"]
    transposition = index_of(group, [1, 0, 2, 3, 4])
    expected = {"trivial": 1, "sign": -1, "standard": 2, "standard_sign": -2, "s5_5d_a": -1, "s5_5d_b": 1}
    expected["s5_6d"] = 0
    assert [i.name for i in result] == list(expected)
    named = by_name(result)
    for name, value in expected.items():
        assert named[name].character[transposition] == pytest.approx(value, abs=1e-10), name
    fixed_points = (permutations_of(group) == np.arange(5)).sum(axis=1)
    assert np.allclose(named["standard"].character, fixed_points - 1, atol=1e-10)


def test_alternating_5_characters(computed):
    group, result = computed["A5"]
    assert [i.name for i in result] == ["trivial", "a5_3d_a", "a5_3d_b", "standard", "a5_5d_a"]
    classes = [[0, 1, 2, 3, 4], [1, 0, 3, 2, 4], [1, 2, 0, 3, 4], [1, 2, 3, 4, 0], [2, 3, 4, 0, 1]]
    elements = [index_of(group, perm) for perm in classes]  # e, (01)(23), (012), g = (01234), g²
    named = by_name(result)
    expected = {
        "a5_3d_a": [3, -1, 0, PHI, 1 - PHI],
        "a5_3d_b": [3, -1, 0, 1 - PHI, PHI],
        "standard": [4, 0, 1, -1, -1],
        "a5_5d_a": [5, 1, -1, 0, 0],
    }
    for name, values in expected.items():
        assert np.allclose(named[name].character[elements], values, atol=1e-10), name


def test_other_kinds(computed):
    assert [(i.name, i.kind, i.coefficient_rank) for i in computed["A4"][1]] == [
        ("trivial", "real", 1),
        ("a4_2d_a", "complex", 2),
        ("standard", "real", 9),
    ]
    quaternionic = computed["Q8"][1][-1]
    assert (quaternionic.dim, quaternionic.kind, quaternionic.coefficient_rank) == (4, "quaternionic", 4)
    assert np.allclose(quaternionic.character, [4, 0, 0, 0, -4, 0, 0, 0], atol=1e-10)
    assert [i.name for i in computed["C3xS3"][1]] == ["trivial", "1d_0", "2d_0", "2d_1", "2d_2", "4d_0"]
    assert [i.name for i in computed["S3"][1]] == ["trivial", "sign", "standard"]


def test_character_table_s3():
    table = character_table(symmetric(3))
    assert table.names == ("trivial", "sign", "standard")
    assert table.class_sizes.tolist() == [1, 3, 2]  # e, transpositions, 3-cycles
    assert np.allclose(table.values, [[1, 1, 1], [1, -1, 1], [2, 0, -1]], atol=1e-10)


def test_symmetric_6_irreps():
    group = symmetric(6)
    result = irreps(group)
    assert len(result) == 11
    assert [i.dim for i in result] == [1, 1, 5, 5, 5, 5, 9, 9, 10, 10, 16]
    assert sum(i.dim**2 for i in result) == sum(i.coefficient_rank for i in result) == 720
    chars = np.array([i.character for i in result])
    assert np.allclose(chars @ chars.T / 720, np.eye(11), atol=1e-10)
    transposition = index_of(group, [1, 0, 2, 3, 4, 5])
    expected = {"standard": 3, "standard_sign": -3, "s6_5d_a": 1, "s6_5d_b": -1, "s6_9d_a": 3, "s6_9d_b": -3}
    expected |= {"s6_10d_a": 2, "s6_10d_b": -2, "s6_16d": 0}
    named = by_name(result)
    for name, value in expected.items():
        assert named[name].character[transposition] == pytest.approx(value, abs=1e-10), name
    x, y = np.random.default_rng(0).integers(720, size=(2, 2000))
    for irrep in result:
        m = irrep.matrices
        assert np.allclose(m[x] @ m[y], m[group.table[x, y]], atol=1e-8), irrep.name


# ---------------------------------------------------------------- cache


def test_disk_cache_round_trip(monkeypatch):
    group = dihedral(5)
    first = irreps(group)
    assert cache_path(group).exists() and irreps(group) is first  # in-process cache
    clear_memory_cache()
    module = importlib.import_module("grokscope.groups.irreps")

    def fail(*args, **kwargs):
        raise AssertionError("recomputed despite the disk cache")

    monkeypatch.setattr(module, "compute_irreps", fail)
    loaded = irreps(group)
    assert [(i.name, i.dim, i.kind) for i in loaded] == [(i.name, i.dim, i.kind) for i in first]
    assert all(np.array_equal(a.matrices, b.matrices) for a, b in zip(loaded, first, strict=True))
    assert all(np.array_equal(a.character, b.character) for a, b in zip(loaded, first, strict=True))


def test_corrupt_cache_is_recomputed():
    group = cyclic(5)
    path = cache_path(group)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a zip file")
    with pytest.warns(UserWarning, match="unreadable"):
        result = irreps(group)
    assert [i.name for i in result] == ["trivial", "freq_1", "freq_2"]
    clear_memory_cache()
    assert [i.name for i in irreps(group)] == ["trivial", "freq_1", "freq_2"]


# ---------------------------------------------------------------- Fourier basis


@pytest.mark.parametrize("p", [1, 2, 7, 8, 113])
def test_fourier_basis_orthonormal(p):
    basis = fourier_basis(p, dtype=torch.float64)
    assert basis.shape == (p, p)
    assert torch.allclose(basis @ basis.T, torch.eye(p, dtype=torch.float64), atol=1e-12)
    assert len(fourier_basis_names(p)) == p and fourier_basis_names(p)[0] == "Const"
    assert frequency_of_row(p).tolist() == [(i + 1) // 2 for i in range(p)]


def test_fourier_basis_rows_and_concentration():
    p = 113
    basis = fourier_basis(p, dtype=torch.float64)
    x = torch.arange(p, dtype=torch.float64)
    assert fourier_basis_names(p)[:5] == ("Const", "cos 1", "sin 1", "cos 2", "sin 2")
    for k in (1, 14, 56):
        spectrum = basis @ torch.cos(2 * math.pi * k * x / p)
        assert spectrum[2 * k - 1].item() == pytest.approx(math.sqrt(p / 2))
        assert spectrum.abs().sum().item() == pytest.approx(math.sqrt(p / 2))
        assert fourier_basis_names(p)[2 * k - 1] == f"cos {k}"
    assert fourier_basis_names(8)[-1] == "cos 4"
    assert torch.allclose(
        fourier_basis(8, dtype=torch.float64)[-1],
        torch.tensor([1.0, -1.0] * 4, dtype=torch.float64) / math.sqrt(8),
    )


def test_fourier_basis_cached_and_matches_cyclic_irreps():
    assert fourier_basis(11) is fourier_basis(11)
    assert fourier_basis(11).dtype == torch.get_default_dtype()
    assert fourier_basis(11, dtype=torch.float64) is not fourier_basis(11)
    basis = fourier_basis(11, dtype=torch.float64).numpy()
    for irrep in compute_irreps(cyclic(11))[1:]:
        k = int(irrep.name.removeprefix("freq_"))
        rows = basis[2 * k - 1 : 2 * k + 1]
        assert np.allclose(rows.T @ rows, irrep.projector(), atol=1e-12)


# ---------------------------------------------------------------- spectral maths


@pytest.mark.parametrize(("p", "k_max"), [(1, 0), (2, 0), (7, 3), (8, 3), (113, 56)])
def test_max_frequency_counts_the_cos_sin_pairs(p, k_max):
    assert max_frequency(p) == k_max
    assert sum(name.startswith("sin") for name in fourier_basis_names(p)) == k_max


def test_fourier_filter_scales_exactly_one_frequency():
    """``G = Fᵀ diag(g) F``: frequency 3 scaled by 0.5, frequency 5 removed, every other power unchanged."""
    p = 13
    values = torch.randn(2, p, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    filtered = apply_filter(fourier_filter(p, {3: 0.5, 5: 0.0}, 1.0, torch.float64), values)
    ratio = frequency_power(filtered, p) / frequency_power(values, p)  # [2, K + 1]
    expected = torch.ones(2, max_frequency(p) + 1, dtype=torch.float64)
    expected[:, 3], expected[:, 5] = 0.25, 0.0
    torch.testing.assert_close(ratio, expected, rtol=1e-10, atol=1e-12)


def test_irrep_filter_is_the_sum_of_the_kept_projections():
    """On S_3 (trivial, sign, standard): keeping ``standard`` and half of ``sign`` is ``P_std V + P_sign V / 2``."""
    basis = group_basis(symmetric(3))
    values = torch.randn(6, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    filt = irrep_filter(basis, {"standard": 1.0, "sign": 0.5}, 0.0, torch.float64)
    projections = basis.projections(values)  # [R, n, k], trivial first
    torch.testing.assert_close(apply_filter(filt, values), projections[2] + 0.5 * projections[1])
    assert basis.names == ("trivial", "sign", "standard") and basis.dims.tolist() == [1, 1, 4]
