"""Which user-given name applies to which variable.

Names are matched against ``variable.path`` (``lstm_1/lstm_cell/kernel``):

* a trailing ``:0`` (TF1-style names, as keras-adamw 1.38 used) is ignored;
* an exact path wins; otherwise the longest key that is a substring of the path
  wins (among keys of equal length, the one given first);
* keys read from a model (``model=``) are exact paths and match only their own
  variable, so ``dense/kernel`` never decays ``extra_dense/kernel``.
"""

import difflib
import re
from typing import Iterable, Mapping, Optional, Sequence, TypeVar

__all__ = ["normalize_name", "normalize_keys", "find_key", "require_all_matched",
           "closest_paths"]

V = TypeVar("V")
_TF_SUFFIX = re.compile(r":\d+$")


def normalize_name(name: str) -> str:
    """``'dense/kernel:0'`` -> ``'dense/kernel'``."""
    return _TF_SUFFIX.sub("", name)


def normalize_keys(argument: str, mapping: Mapping[str, V]) -> dict:
    """A copy of ``mapping`` with normalized string keys.

    Raises TypeError for a non-string key and ValueError when two keys become the
    same name (``'dense/kernel'`` and ``'dense/kernel:0'``).
    """
    out = {}
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise TypeError(
                f"`{argument}` keys must be variable names (str); got "
                f"{key!r} of type {type(key).__name__}.")
        name = normalize_name(key)
        if name in out:
            raise ValueError(
                f"`{argument}` names {name!r} twice (keys differ only by a ':N' "
                f"suffix, which is ignored); keep one of them.")
        out[name] = value
    return out


def find_key(patterns: Iterable[str], path: str) -> Optional[str]:
    """The key of ``patterns`` that applies to ``path``, or None.

    Exact match first, then the longest key that is a substring of ``path``.
    """
    best = None
    for key in patterns:
        if key == path:
            return key
        if key in path and (best is None or len(key) > len(best)):
            best = key
    return best


def closest_paths(name: str, paths: Sequence[str], n: int = 3) -> list:
    """The ``n`` variable paths that look most like ``name``."""
    return difflib.get_close_matches(name, list(paths), n=n, cutoff=0.0)


def require_all_matched(argument: str, keys: Iterable[str], paths: Sequence[str]) -> None:
    """ValueError naming every key of ``argument`` that matches no path."""
    unmatched = [k for k in keys if not any(k in p for p in paths)]
    if not unmatched:
        return
    lines = [f"  {k!r}: closest variable paths {closest_paths(k, paths)}"
             for k in unmatched]
    raise ValueError(
        f"`{argument}` has key(s) that match no trainable variable (a key must be "
        "a variable path or a substring of one; a trailing ':0' is ignored):\n"
        + "\n".join(lines))
