"""The public surface agrees with the one argument spec (keras_adamw/arguments.py):
signatures, docstrings, the config and the README's argument table."""

import inspect
import pathlib
import re

import pytest

import keras

from keras_adamw import AdamW, NadamW, SGDW, arguments, decoupled

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize("cls", [AdamW, NadamW, SGDW, decoupled(keras.optimizers.Lion)])
def test_signature_lists_every_argument_with_its_default(cls):
    params = inspect.signature(cls).parameters
    for argument in arguments.ARGUMENTS:
        assert params[argument.name].default == argument.default, argument.name
        assert f"{argument.name}=" in cls.__doc__
    assert params["learning_rate"].default is not inspect.Parameter.empty  # the base's
    assert "weight_decay" not in params  # Keras' own, refused


def test_config_holds_every_argument():
    config = AdamW(init_verbose=False).get_config()
    for name in arguments.NAMES:
        if name != "model":
            assert name in config, name


def test_readme_argument_table_is_the_spec():
    rows = re.findall(r"^\| `(\w+)` \| `([^`]*)` \| (.*) \|$", README.read_text(), flags=re.M)
    assert [r[0] for r in rows] == [a.name for a in arguments.ARGUMENTS]
    for (name, default, doc), argument in zip(rows, arguments.ARGUMENTS):
        assert default == repr(argument.default), name
        assert doc == argument.doc, name


def test_readme_is_a_guide_not_a_notebook():
    assert len(README.read_text().splitlines()) <= 275
