"""Which user-given name applies to which variable.

Names are matched against ``variable.path`` (``lstm_1/lstm_cell/kernel``) by whole
path components:

* a key of one or more components (``lstm_1``, ``lstm_1/lstm_cell``, ``head/kernel``,
  ``bias``) matches a path where those components appear consecutively. A key never
  matches part of a component: ``norm`` does not match ``layer_normalization/gamma``
  or ``abnormality_detector/dense/kernel``, ``dense_1`` does not match
  ``dense_12/kernel``;
* a trailing ``:0`` (TF1-style names, as keras-adamw 1.38 used) and leading or
  trailing ``/`` are ignored; an empty key is an error;
* a compiled regular expression (``re.compile(r"block_\\d+/attn")``) matches where
  ``pattern.search(path)`` does. In a config it is written as the string
  ``"re:" + pattern``, and such a string is read back as the same expression;
* precedence, when several keys match one path: an exact path wins; otherwise the
  most specific key wins, i.e. the one covering the most path components (a
  regular expression covers the components its match touches); among equals, the
  first given.
"""

import difflib
import re
import warnings
from typing import Dict, Iterable, Mapping, Optional, Sequence, Tuple, TypeVar, Union

__all__ = ["REGEX_PREFIX", "normalize_name", "normalize_key", "normalize_keys",
           "key_to_config", "Matcher", "closest_paths"]

V = TypeVar("V")
Key = Union[str, "re.Pattern"]
_TF_SUFFIX = re.compile(r":\d+$")
#: a config string that stands for a compiled regular expression
REGEX_PREFIX = "re:"
_EXACT = float("inf")


def normalize_name(name: str) -> str:
    """``'dense/kernel:0'`` -> ``'dense/kernel'``."""
    return _TF_SUFFIX.sub("", name)


def normalize_key(argument: str, key) -> Key:
    """A user's key as matched: a path-component string or a compiled expression.

    Raises TypeError for a key that is neither, and ValueError for an empty key, an
    empty component (``'a//b'``) or an invalid ``'re:'`` expression.
    """
    if isinstance(key, re.Pattern):
        if not key.pattern:
            raise ValueError(f"`{argument}` has an empty regular expression, which "
                             "matches every variable; give a pattern.")
        if not isinstance(key.pattern, str):
            raise TypeError(f"`{argument}`: a regular expression key must be a str "
                            f"pattern; got {key!r}.")
        if key.flags & ~(re.UNICODE | re.IGNORECASE):
            raise ValueError(
                f"`{argument}`: regular expression {key.pattern!r} has flags that a "
                "config cannot keep; write them inline, e.g. '(?i)...'.")
        if key.flags & re.IGNORECASE and not key.pattern.startswith("(?i)"):
            key = re.compile("(?i)" + key.pattern)
        return key
    if not isinstance(key, str):
        raise TypeError(
            f"`{argument}` keys must be variable or layer names (str) or compiled "
            f"regular expressions; got {key!r} of type {type(key).__name__}.")
    if key.startswith(REGEX_PREFIX):
        try:
            pattern = re.compile(key[len(REGEX_PREFIX):])
        except re.error as error:
            raise ValueError(f"`{argument}`: {key!r} is not a valid regular "
                             f"expression: {error}.") from None
        return normalize_key(argument, pattern)
    name = normalize_name(key).strip("/")
    if not name:
        raise ValueError(f"`{argument}` has an empty key {key!r}: give a variable "
                         "or layer name such as 'dense_1' or 'head/kernel'.")
    if "" in name.split("/"):
        raise ValueError(f"`{argument}` key {key!r} has an empty path component "
                         "('//'); write components separated by one '/'.")
    return name


def key_to_config(key: Key) -> str:
    """The string a key is written as in a config."""
    return REGEX_PREFIX + key.pattern if isinstance(key, re.Pattern) else key


def normalize_keys(argument: str, mapping: Mapping) -> dict:
    """A copy of ``mapping`` with normalized keys (``normalize_key``).

    When two keys become the same name (``'dense/kernel'`` and ``'dense/kernel:0'``,
    as 1.38's ``weight_decays.update({'dense/kernel:0': ...})`` gives), the later one
    wins, as in ``dict.update``, and a warning says so.
    """
    out = {}
    for key, value in mapping.items():
        name = normalize_key(argument, key)
        if name in out:
            warnings.warn(
                f"keras_adamw: `{argument}` names {key_to_config(name)!r} twice (keys "
                "differ only by a ':N' suffix or a '/' at an end, which are ignored); "
                f"the later one, {key!r}, wins.", stacklevel=4)
            del out[name]
        out[name] = value
    return out


def _components_match(key_parts: Tuple[str, ...], path_parts: Tuple[str, ...]) -> bool:
    n = len(key_parts)
    return any(path_parts[i:i + n] == key_parts for i in range(len(path_parts) - n + 1))


def _regex_span(path: str, match) -> int:
    """How many path components a regular expression's match touches (>= 1)."""
    return _span(path, *match.span())


def _span(path: str, start: int, end: int) -> int:
    """How many path components ``path[start:end]`` touches (>= 1)."""
    last = max(start, end - 1)
    return path.count("/", start, last) + 1


def _literal(pattern: "re.Pattern") -> Optional[str]:
    """The path an expression ``^...$`` of escaped literal characters only matches
    (``layerwise_lr_multipliers``' exact-path keys), else None."""
    text = pattern.pattern
    if pattern.flags & ~re.UNICODE or len(text) < 2 or text[0] != "^" or text[-1] != "$":
        return None
    out, i, inner = [], 1, text[:-1]
    while i < len(inner):
        char = inner[i]
        if char == "\\":
            if i + 1 >= len(inner) or inner[i + 1].isalnum() or inner[i + 1] == "_":
                return None  # \d, \b, \1, ...: not a literal
            out.append(inner[i + 1])
            i += 2
        elif char in ".^$*+?{}[]|()":
            return None
        else:
            out.append(char)
            i += 1
    return "".join(out)


class Matcher:
    """The keys of one argument, ready to be matched against many paths.

    ``specificity(key, path)`` is None when ``key`` does not match ``path``, infinity
    for an exact path, else the number of components it covers. ``find(path)``
    returns the key that applies (see the module docstring for the precedence).

    Cost: the name keys are indexed by their components, and the regular expressions
    of one exact path (``^...$`` of literal characters, as ``layerwise_lr_multipliers``
    writes them) by that path, so a path costs O(m^2) dictionary look-ups for its m
    components, plus one search per other regular expression: resolving V variables
    takes O(V) look-ups whatever the number of name keys.
    """

    def __init__(self, keys: Iterable[Key]):
        self.keys = list(keys)
        self._parts = {k: tuple(k.split("/")) for k in self.keys if isinstance(k, str)}
        self._by_parts = {}   # components of a name key -> index of its first occurrence
        self._by_literal = {}  # the path of an exact-path expression -> first index
        self._regexes = []    # (index, expression) of every other expression, in order
        for index, key in enumerate(self.keys):
            if isinstance(key, re.Pattern):
                literal = _literal(key)
                if literal is None:
                    self._regexes.append((index, key))
                else:
                    self._by_literal.setdefault(literal, index)
            else:
                self._by_parts.setdefault(self._parts[key], index)
        self._longest = max((len(p) for p in self._by_parts), default=0)
        self._memo = {}

    def specificity(self, key: Key, path: str) -> Optional[float]:
        if isinstance(key, re.Pattern):
            match = key.search(path)
            return None if match is None else _regex_span(path, match)
        if key == path:
            return _EXACT
        parts = self._parts[key]
        return len(parts) if _components_match(parts, tuple(path.split("/"))) else None

    def _hits(self, path: str) -> tuple:
        """``(rank, index)`` of every key that matches ``path``, the winner first."""
        hits = self._memo.get(path)
        if hits is not None:
            return hits
        found = {}
        if self._by_parts:
            parts = tuple(path.split("/"))
            m = len(parts)
            for size in range(1, min(self._longest, m) + 1):
                rank = _EXACT if size == m else size
                for i in range(m - size + 1):
                    index = self._by_parts.get(parts[i:i + size])
                    if index is not None:
                        found[index] = rank
        if self._by_literal:
            # '$' also matches before a final newline
            for literal in (path, path[:-1]) if path.endswith("\n") else (path,):
                index = self._by_literal.get(literal)
                if index is not None:
                    found.setdefault(index, _span(path, 0, len(literal)))
        for index, key in self._regexes:
            match = key.search(path)
            if match is not None:
                found[index] = _regex_span(path, match)
        # the most specific key, then the first given (what a pass over the keys in
        # order keeping only strictly better ranks gives)
        hits = tuple(sorted(((rank, index) for index, rank in found.items()),
                            key=lambda hit: (-hit[0], hit[1])))
        if len(self._memo) < 1_000_000:
            self._memo[path] = hits
        return hits

    def find(self, path: str) -> Optional[Key]:
        hits = self._hits(path)
        return self.keys[hits[0][1]] if hits else None

    def matches(self, path: str) -> bool:
        return bool(self._hits(path))

    def all_matches(self, path: str) -> list:
        """Every key that matches ``path`` (a key given twice, once): the one that
        applies first, then the others by precedence."""
        return [self.keys[index] for _, index in self._hits(path)]

    def _matched_indices(self, paths: Sequence[str]) -> set:
        matched = set()
        for path in paths:
            matched.update(index for _, index in self._hits(path))
        return matched

    def unmatched(self, paths: Sequence[str]) -> list:
        """The keys that match none of ``paths``."""
        matched = self._matched_indices(paths)
        return [k for index, k in enumerate(self.keys) if index not in matched
                and not self._same_as_matched(index, matched)]

    def _same_as_matched(self, index: int, matched: set) -> bool:
        """A key given twice is indexed once: its later copies match where it does."""
        key = self.keys[index]
        first = (self._by_parts.get(self._parts[key]) if isinstance(key, str)
                 else self._by_literal.get(_literal(key)))
        return first is not None and first != index and first in matched

    def warn_never_applied(self, argument: str, paths: Sequence[str]) -> None:
        """Warn about keys that match variables but apply to none of them: for each,
        a more specific or an earlier key wins."""
        winners = {self.find(p) for p in paths}
        matched = self._matched_indices(paths)
        shadowed = [k for index, k in enumerate(self.keys) if k not in winners
                    and (index in matched or self._same_as_matched(index, matched))]
        if shadowed:
            warnings.warn(
                f"keras_adamw: `{argument}` key(s) {[key_to_config(k) for k in shadowed]} "
                "match variables but apply to none: for each of those variables a more "
                "specific key (more path components, or the exact path) or an earlier "
                "key of equal specificity wins.", stacklevel=5)

    def require_all_matched(self, argument: str, paths: Sequence[str],
                            frozen: Optional[Sequence[str]] = None) -> None:
        """ValueError naming every key of ``argument`` that matches no path; a key that
        matches only ``frozen`` paths (the model's weights this optimizer does not
        train now: a frozen backbone; ``True``: any key, for an optimizer restored from
        a config, whose keys were checked when it was made) is a warning instead."""
        unmatched = self.unmatched(paths)
        if frozen and unmatched:  # True: every path of the model may be frozen
            known = set() if frozen is True else set(
                Matcher(dict.fromkeys(unmatched)).unmatched(frozen))
            idle = [k for k in unmatched if k not in known]
            if idle:
                warnings.warn(
                    f"keras_adamw: `{argument}` key(s) {[key_to_config(k) for k in idle]} "
                    "match only weights that are not trained now (frozen): they apply "
                    "once an optimizer is built on them (recompile after unfreezing).",
                    stacklevel=6)
            unmatched = [k for k in unmatched if k in known]
        if not unmatched:
            return
        lines = [f"  {key_to_config(k)!r}: closest variable paths "
                 f"{closest_paths(key_to_config(k), paths)}" for k in unmatched]
        raise ValueError(
            f"`{argument}` has key(s) that match no trainable variable (a key is a "
            "variable path, or whole components of one such as 'dense_1' or "
            "'head/kernel', or a compiled regular expression; a trailing ':0' is "
            "ignored):\n" + "\n".join(lines))


def closest_paths(name: str, paths: Sequence[str], n: int = 3) -> list:
    """The ``n`` variable paths that look most like ``name`` (at most 2,000 looked at)."""
    unique = list(dict.fromkeys(paths))[:2000]
    return difflib.get_close_matches(name, unique, n=n, cutoff=0.0)


def lookup(mapping: Dict[Key, V], path: str) -> Optional[V]:
    """The value of the key of ``mapping`` that applies to ``path``, or None."""
    key = Matcher(mapping).find(path)
    return None if key is None else mapping[key]
