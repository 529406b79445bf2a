"""The public surface agrees with the one argument spec (keras_adamw/arguments.py):
signatures, docstrings, the config and the README's argument table."""

import inspect
import pathlib
import re

import pytest

import keras
import numpy as np

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


def test_model_is_keyword_in_the_signature_and_the_docs_and_positional_still_works():
    """The signature shows `model` keyword-only, as the README and help() say (an IDE
    flags no documented call); 1.38's `AdamW(model, ...)` still works."""
    assert inspect.signature(AdamW).parameters["model"].kind is inspect.Parameter.KEYWORD_ONLY
    doc = next(a.doc for a in arguments.ARGUMENTS if a.name == "model")
    assert doc.startswith("A built Keras model (keyword;")
    inp = keras.Input((3,))
    model = keras.Model(inp, keras.layers.Dense(2, kernel_regularizer=keras.regularizers.L2(
        1e-3))(inp))
    assert AdamW(model, learning_rate=1e-3, init_verbose=False).weight_decays


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


def test_classes_made_by_decoupled_pickle_also_in_a_fresh_process(tmp_path):
    import pickle
    import subprocess
    import sys

    from keras_adamw import decoupled

    lion_w = decoupled(keras.optimizers.Lion)
    assert pickle.loads(pickle.dumps(lion_w)) is lion_w
    opt = lion_w(weight_decays=0.25, lr_multipliers={"head": 0.5}, init_verbose=False)
    back = pickle.loads(pickle.dumps(opt))
    assert type(back) is lion_w and back.weight_decays == 0.25
    assert back.lr_multipliers == {"head": 0.5}
    path = tmp_path / "opt.pkl"
    path.write_bytes(pickle.dumps(opt))
    code = ("import pickle, sys, keras_adamw; o = pickle.loads(open(sys.argv[1], 'rb').read()); "
            "print(type(o).__qualname__, o.weight_decays)")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["LionW", "0.25"]


def test_two_optimizers_in_one_program_have_their_own_names():
    first, second = AdamW(init_verbose=False), AdamW(init_verbose=False)
    assert first.name != second.name and second.name.startswith(first.name.split("_")[0])
    assert first.t_cur.path != second.t_cur.path
    assert first.iterations.path != second.iterations.path
    assert AdamW(name="mine", init_verbose=False).name == "mine"


def test_a_base_whose_init_takes_no_name_can_be_decoupled():
    from keras_adamw import decoupled

    class FixedSGD(keras.optimizers.SGD):
        def __init__(self, learning_rate=0.01):
            super().__init__(learning_rate=learning_rate)

    opt = decoupled(FixedSGD)(learning_rate=0.1, weight_decays=0.5, init_verbose=False)
    variable = keras.Variable(np.ones(2, "float32"))
    opt.apply([keras.ops.zeros(2)], [variable])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), 0.5)  # w - 0.5 w
