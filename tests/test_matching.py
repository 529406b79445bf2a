"""matching.py on its own: key normalization, whole-component matching, regular
expressions, precedence and the error for keys that match nothing."""

import re

import pytest

from keras_adamw import matching

PATHS = ["net/dense_1/kernel", "net/dense_1/bias", "net/dense_12/kernel", "net/ln/gamma",
         "block_3/attn/kernel"]


@pytest.mark.parametrize("key, normalized", [
    ("dense/kernel:0", "dense/kernel"), ("/dense/", "dense"), ("dense:12", "dense"),
])
def test_normalize_key(key, normalized):
    assert matching.normalize_key("k", key) == normalized


@pytest.mark.parametrize("key, error", [
    ("", ValueError), (":0", ValueError), ("a//b", ValueError), ("re:(", ValueError),
    ("re:", ValueError), (re.compile(""), ValueError),
    (3, TypeError), (None, TypeError), (re.compile("a", re.MULTILINE), ValueError),
])
def test_bad_keys(key, error):
    with pytest.raises(error, match="`k`"):
        matching.normalize_key("k", key)


def test_regex_keys_and_their_config_form():
    key = matching.normalize_key("k", re.compile(r"block_\d+/attn"))
    assert matching.key_to_config(key) == r"re:block_\d+/attn"
    assert matching.normalize_key("k", matching.key_to_config(key)).pattern == key.pattern
    ignore_case = matching.normalize_key("k", re.compile("ATTN", re.IGNORECASE))
    assert matching.Matcher([ignore_case]).find("block_3/attn/kernel") is ignore_case


def test_two_keys_that_normalize_alike_the_later_wins_with_a_warning():
    """1.38's README: weight_decays.update({'conv1d_0/kernel:0': (1e-4, 0)})."""
    with pytest.warns(UserWarning, match="twice"):
        out = matching.normalize_keys("weight_decays", {"dense/kernel": 1, "dense/kernel:0": 2})
    assert out == {"dense/kernel": 2}


def test_a_key_that_never_applies_is_reported():
    m = matching.Matcher(["encoder", "attn"])  # equal specificity: 'encoder' is first
    with pytest.warns(UserWarning, match="'attn'"):
        m.warn_never_applied("lr_multipliers", ["encoder/attn/kernel", "encoder/ffn/kernel"])


def test_which_paths_each_key_matches():
    m = matching.Matcher(["dense_1", "kernel", "ln/gamma", "net"])
    assert [p for p in PATHS if m.specificity("dense_1", p)] == PATHS[:2]
    assert [p for p in PATHS if m.specificity("kernel", p)] == [PATHS[0], PATHS[2], PATHS[4]]
    assert m.specificity("ln/gamma", "net/ln/gamma") == 2
    assert m.specificity("net", "net/ln/gamma") == 1


def test_precedence_exact_then_components_then_first_given():
    m = matching.Matcher(["kernel", "dense_1/kernel", "net/dense_1/kernel"])
    assert m.find("net/dense_1/kernel") == "net/dense_1/kernel"
    m = matching.Matcher(["kernel", "dense_1/kernel"])
    assert m.find("net/dense_1/kernel") == "dense_1/kernel"
    assert matching.Matcher(["net", "kernel"]).find("net/dense_1/kernel") == "net"
    assert matching.Matcher(["kernel", "net"]).find("net/dense_1/kernel") == "kernel"


def test_unmatched_keys_are_reported_with_the_closest_paths():
    m = matching.Matcher(["dense_1", "dense_7"])
    assert m.unmatched(PATHS) == ["dense_7"]
    with pytest.raises(ValueError) as info:
        m.require_all_matched("lr_multipliers", PATHS)
    assert "'dense_7'" in str(info.value) and "net/dense_1" in str(info.value)


# ---------------------------------------------- the index against a plain scan

def _scan_rank(key, path):
    """The module docstring's rules, written as a plain pass: None, inf (the exact
    path), or the number of path components the key covers."""
    if isinstance(key, re.Pattern):
        match = key.search(path)
        if match is None:
            return None
        start, end = match.span()
        return path.count("/", start, max(start, end - 1)) + 1
    if key == path:
        return float("inf")
    k, p = key.split("/"), path.split("/")
    return len(k) if any(p[i:i + len(k)] == k for i in range(len(p) - len(k) + 1)) else None


def _scan_find(keys, path):
    best, best_rank = None, None
    for key in keys:  # in order: a later key wins only when strictly more specific
        rank = _scan_rank(key, path)
        if rank is not None and (best_rank is None or rank > best_rank):
            best, best_rank = key, rank
    return best


def _random_case(rng):
    names = ["net", "enc", "block_1", "block_12", "attn", "dense", "kernel", "bias", "a.b",
             "x+y", "ln", "w-0"]
    paths = ["/".join(rng.choice(names) for _ in range(rng.randint(1, 5)))
             for _ in range(60)]
    keys = []
    for _ in range(rng.randint(1, 25)):
        kind = rng.random()
        if kind < 0.45:  # components, sometimes a whole path
            key = rng.choice(paths) if rng.random() < 0.3 else "/".join(
                rng.choice(names) for _ in range(rng.randint(1, 3)))
        elif kind < 0.75:  # an exact-path expression, as layerwise_lr_multipliers writes
            key = re.compile("^" + re.escape(rng.choice(paths + ["nowhere"])) + "$")
        else:  # other expressions, anchored ones that are not literals included
            key = re.compile(rng.choice([r"block_\d+", r"^net/", r"^enc/attn$", r"(?i)KERNEL$",
                                         r"a\.b", r"^a.b$", r"^x\+y$", r"dense|bias"]))
        keys.append(key)
    if rng.random() < 0.3:
        keys.append(keys[0])  # a key given twice
    return paths + ["net/kernel\n"], keys


@pytest.mark.parametrize("seed", range(40))
def test_the_indexed_matcher_agrees_with_a_plain_scan(seed):
    """The index (name keys by their components, exact-path expressions by their
    path) decides exactly what a pass over the keys in order decides."""
    import random
    import warnings

    paths, keys = _random_case(random.Random(seed))
    m = matching.Matcher(keys)
    for path in paths:
        assert m.find(path) is _scan_find(keys, path), (path, keys)
        assert m.matches(path) == any(_scan_rank(k, path) is not None for k in keys)
        assert m.specificity(keys[0], path) == _scan_rank(keys[0], path)
        assert set(map(id, m.all_matches(path))) == {
            id(k) for k in keys if _scan_rank(k, path) is not None}
    assert m.unmatched(paths) == [k for k in keys
                                  if all(_scan_rank(k, p) is None for p in paths)]
    winners = {_scan_find(keys, p) for p in paths}
    shadowed = [matching.key_to_config(k) for k in keys if k not in winners
                and any(_scan_rank(k, p) is not None for p in paths)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m.warn_never_applied("k", paths)
    assert [str(shadowed) in str(w.message) for w in caught] == ([True] if shadowed else [])


def test_exact_path_expressions_are_looked_up_not_searched():
    """The keys layerwise_lr_multipliers writes for single variables (``^path$``) are
    indexed by their path, so thousands of them cost one look-up per variable; an
    expression with any other syntax is searched."""
    paths = [f"stem/w_{i}" for i in range(3000)]
    keys = [re.compile("^" + re.escape(p) + "$") for p in paths]
    keys += [re.compile(r"^stem/w_1\d$"), re.compile("(?i)^stem/w_1$"), "stem"]
    m = matching.Matcher(keys)
    assert [k for _, k in m._regexes] == keys[3000:3002]
    assert m.find("stem/w_17") is keys[17]  # equal span: the first given wins
    assert m.find("stem/w_1") is keys[1]
    assert m.all_matches("stem/w_1") == [keys[1], keys[3001], "stem"]


def test_an_exact_path_expression_matches_as_re_search_does():
    """``$`` also matches before a final newline, as ``re.search`` has it."""
    key = re.compile("^" + re.escape("net/kernel") + "$")
    m = matching.Matcher([key])
    assert m.find("net/kernel\n") is key and m.specificity(key, "net/kernel\n") == 2
    assert m.find("net/kernel/x") is None and m.find("a/net/kernel") is None


def test_resolving_keys_costs_per_path_not_per_path_and_key(monkeypatch):
    """Issue 19 item 4: layer-wise decay gives a key per variable; resolution must stay
    near linear in the variables whatever the number of keys (it was variables x keys:
    39 s for 8,008 variables). Counted, not timed: component comparisons per path."""
    from keras_adamw import matching

    calls = {"n": 0}
    real = matching._components_match

    def counting(*args):
        calls["n"] += 1
        return real(*args)

    monkeypatch.setattr(matching, "_components_match", counting)
    keys = [f"block_{i}" for i in range(400)] + ["bias", "embed/kernel"]
    paths = [f"model/block_{i}/dense_{j}/{w}" for i in range(400) for j in range(3)
             for w in ("kernel", "bias")]
    m = matching.Matcher(keys)
    found = [m.find(p) for p in paths]
    assert found[:2] == ["block_0", "block_0"]  # equal specificity: the first given
    m.require_all_matched("lr_multipliers", paths + ["embed/kernel"])
    assert calls["n"] <= 4 * (len(paths) + 1)  # a plain scan makes 402 per path
