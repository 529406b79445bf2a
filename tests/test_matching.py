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
