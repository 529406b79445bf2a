"""Fine-tuning KerasHub models (issue 19): a tiny BERT classifier and a tiny Gemma,
built from config with random weights (no download, no preset).

The recipe: layer-wise lr decay over the transformer layers, no decay on the
normalization layers and the biases, warmup and cosine restarts, ScheduleLogger.
Every variable's multiplier and decay is worked out here from the model's structure
(which block a variable lies in, found by walking the layers; which layers are
normalization layers, by their class), never by calling layerwise_lr_multipliers
again; then one step against the NumPy reference, and the same after enable_lora.
"""

import functools

import warnings

import numpy as np
import pytest

keras_hub = pytest.importorskip(
    "keras_hub", reason="keras-hub is not installed: the KerasHub tests need it "
    "(pip install 'keras-hub==0.32.0', or the package's 'hub' extra)")

import keras  # noqa: E402
from keras import layers  # noqa: E402

from reference import Reference, shaped_multiplier  # noqa: E402

from keras_adamw import NORM_LAYERS, AdamW, ScheduleLogger, layerwise_lr_multipliers  # noqa: E402

DECAY, L2, LR = 0.8, 1e-2, 1e-3
SCHEDULE = dict(use_cosine_annealing=True, total_iterations=4, t_mult=2, warmup_iterations=1)
VOCAB, SEQ = 100, 8


def _bert():
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=VOCAB, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32,
        max_sequence_length=16)
    model = keras_hub.models.BertTextClassifier(backbone=backbone, num_classes=3,
                                                preprocessor=None)
    # what lies before the first transformer layer and after the last, by layer name
    before = {"token_embedding", "position_embedding", "segment_embedding",
              "embeddings_layer_norm"}
    after = {"pooled_dense", "logits"}
    return model, backbone, before, after


def _gemma():
    backbone = keras_hub.models.GemmaBackbone(
        vocabulary_size=VOCAB, num_layers=2, num_query_heads=2, num_key_value_heads=1,
        hidden_dim=16, intermediate_dim=32, head_dim=8)
    inputs = {"token_ids": keras.Input((None,), dtype="int32", name="token_ids"),
              "padding_mask": keras.Input((None,), dtype="int32", name="padding_mask")}
    x = layers.GlobalAveragePooling1D()(backbone(inputs))
    model = keras.Model(inputs, layers.Dense(3, name="head")(x))
    return model, backbone, {"token_embedding"}, {"final_normalization", "head"}


MODELS = {"bert": _bert, "gemma": _gemma}


def _inputs(model, batch=4, seed=0):
    rng = np.random.default_rng(seed)
    x = {"token_ids": rng.integers(1, VOCAB, size=(batch, SEQ)).astype("int32"),
         "padding_mask": np.ones((batch, SEQ), "int32")}
    if "segment_ids" in model.input:
        x["segment_ids"] = np.zeros((batch, SEQ), "int32")
    return x, rng.integers(0, 3, size=(batch,))


def _owners(model):
    """id(variable) -> the chain of layers from the model down to the layer that
    created it, by walking every layer's own sub-layers."""
    out = {}

    def walk(layer, chain):
        chain = chain + [layer]
        for v in list(layer._trainable_variables) + list(layer._non_trainable_variables):
            out.setdefault(id(v), chain)
        for sub in layer._layers:
            walk(sub, chain)

    walk(model, [])
    return out


def _is_norm(layer):
    return "Normalization" in type(layer).__name__ or type(layer).__name__.endswith("Norm")


def _expected(model, backbone, before, after):
    """{id(variable): (lr multiplier, l2, is a norm weight)} for every trainable one."""
    blocks = list(backbone.transformer_layers)
    n = len(blocks)
    owners = _owners(model)
    out = {}
    for v in model.trainable_variables:
        chain = owners[id(v)]
        inside = [j for j, block in enumerate(blocks) if any(layer is block for layer in chain)]
        names = {layer.name for layer in chain}
        if inside:
            mu = DECAY ** (n - inside[0])
        elif names & before:
            mu = DECAY ** (n + 1)
        else:
            assert names & after, v.path  # every variable is placed by the test itself
            mu = 1.0
        norm = _is_norm(chain[-1])
        bias = v.path.split("/")[-1] == "bias"
        out[id(v)] = (mu, 0.0 if (norm or bias) else L2, norm)
    return out


def _recipe(model, backbone):
    """The README's fine-tuning recipe."""
    return AdamW(
        model=model, learning_rate=LR, weight_decays=L2,
        exclude_from_weight_decay=[NORM_LAYERS, "bias"],
        lr_multipliers=layerwise_lr_multipliers(model, DECAY,
                                                blocks=backbone.transformer_layers),
        init_verbose=False, **SCHEDULE)


def _built(name, lora=False):
    """A fresh model (with LoRA), its recipe optimizer built, the expected settings."""
    model, backbone, before, after = MODELS[name]()
    if lora:
        backbone.enable_lora(rank=2)
    opt = _recipe(model, backbone)
    opt.build(model.trainable_variables)
    return model, backbone, opt, _expected(model, backbone, before, after)


@functools.lru_cache(maxsize=None)
def _built_once(name, lora=False):
    """For the tests that only read the settings (building is slow on JAX)."""
    return _built(name, lora)


def _check_settings(model, opt, expected, norms=False):
    checked = 0
    for v in model.trainable_variables:
        mu, l2, norm = expected[id(v)]
        if norm != norms:
            continue
        setting = opt.setting_of(v)
        assert setting.lr_multiplier == pytest.approx(mu, rel=1e-12), v.path
        assert (setting.l1, setting.l2) == (0.0, pytest.approx(l2)), v.path
        checked += 1
    return checked


@pytest.mark.parametrize("name", list(MODELS))
def test_recipe_gives_every_variable_its_multiplier_and_decay(name):
    model, backbone, opt, expected = _built_once(name)
    n_checked = _check_settings(model, opt, expected)
    n_norm = sum(norm for _, _, norm in expected.values())
    assert n_checked + n_norm == len(model.trainable_variables)
    # the multipliers the structure gives: before, block 0, block 1, after
    assert sorted({round(mu, 12) for mu, _, _ in expected.values()}) == [0.512, 0.64, 0.8, 1.0]


@pytest.mark.parametrize("name", ["bert", "gemma"])
def test_recipe_decays_no_normalization_weight(name):
    model, _, opt, expected = _built_once(name)
    assert _check_settings(model, opt, expected, norms=True) == {"bert": 10, "gemma": 5}[name]


@pytest.mark.parametrize("name", ["bert", "gemma"])
def test_an_exclusion_that_matches_nothing_warns(name):
    """The old recipe on Gemma: LayerNormalization is not the class of its norms, so it
    excludes nothing there; a typo'd name excludes nothing anywhere. Both warn."""
    model, backbone, _, _ = MODELS[name]()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opt = AdamW(model=model, weight_decays=L2, init_verbose=False,
                    exclude_from_weight_decay=[keras.layers.LayerNormalization, "biases"])
        opt.build(model.trainable_variables)
    said = [str(w.message) for w in caught]
    assert any("name or pattern(s) ['biases']" in m for m in said), said
    assert any("layer class(s) ['LayerNormalization']" in m for m in said) == (name == "gemma")


@pytest.mark.parametrize("name", list(MODELS))
def test_recipe_after_enable_lora(name):
    """enable_lora freezes every layer, then makes query and value trainable again
    with their LoRA kernels: those get their block's multiplier (issue 19 item 1)."""
    model, backbone, opt, expected = _built(name, lora=True)
    paths = [v.path for v in model.trainable_variables]
    lora = [p for p in paths if p.split("/")[-1].startswith("lora_kernel")]
    # 2 layers x (query, value) x (lora_kernel_a, lora_kernel_b)
    assert len(lora) == 8
    assert all(p.split("/")[-2] in ("query", "value") for p in lora)
    assert _check_settings(model, opt, expected) == len(paths)  # no norm trains
    block_mus = {round(opt.setting_of(v).lr_multiplier, 12) for v in model.trainable_variables
                 if v.path.split("/")[-1].startswith("lora_kernel")}
    assert block_mus == {0.64, 0.8}


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
@pytest.mark.parametrize("name", list(MODELS))
def test_one_step_matches_the_numpy_reference(name, lora):
    """One applied step (the warmup's first: eta_0 = 0.5, s = sqrt(1/4)) on every
    variable; a handful, one of each (multiplier, decay) kind, checked against the
    reference."""
    model, _, opt, expected = _built(name, lora=lora)
    variables = list(model.trainable_variables)
    picked, kinds = [], set()
    for i, v in enumerate(variables):
        kind = expected[id(v)][:2]
        if kind not in kinds:
            kinds.add(kind)
            picked.append(i)
    assert len(picked) >= (3 if lora else 6)
    rng = np.random.default_rng(1)
    grads = [rng.normal(size=v.shape).astype("float32") for v in variables]
    ref = Reference("adam", [variables[i].numpy() for i in picked], LR,
                    [expected[id(variables[i])][0] for i in picked],
                    [(0.0, expected[id(variables[i])][1]) for i in picked],
                    annealing=True, total_iterations=4, t_mult=2, norm="cycle", warmup=1)
    opt.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads], variables))
    ref.step([grads[i] for i in picked])
    assert ref.etas == [pytest.approx(0.5)]
    for w, i in zip(ref.w, picked):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(variables[i]), w,
                                   rtol=1e-5, atol=1e-7, err_msg=variables[i].path)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS))
def test_recipe_trains_with_the_schedule_logged(name):
    """fit with ScheduleLogger: eta_t of each step is the reference's warmup and
    restarts; the weights stay finite."""
    model, backbone, _, _ = MODELS[name]()
    opt = _recipe(model, backbone)
    model.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    class Collect(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.etas = []

        def on_train_batch_end(self, batch, logs=None):
            self.etas.append(logs["eta_t"])

    collect = Collect()
    x, y = _inputs(model, batch=12)
    model.fit(x, y, batch_size=2, epochs=1, verbose=0, shuffle=False,
              callbacks=[ScheduleLogger(), collect])
    k, cycle, index, etas = 0, 4, 0, []
    for _ in range(6):
        etas.append(shaped_multiplier(k, cycle, index, 0.0, 1.0, warmup=1))
        k += 1
        if k == cycle:
            k, cycle, index = 0, cycle * 2, index + 1
    np.testing.assert_allclose(collect.etas, etas, rtol=1e-6, atol=1e-7)
    assert all(np.isfinite(keras.ops.convert_to_numpy(v)).all()
               for v in model.trainable_variables)


def test_a_task_after_load_model_gets_the_saved_optimizer_by_the_readme_recipe(tmp_path):
    """KerasHub's Task overrides compile(), so load_model gives it KerasHub's default
    optimizer; the README's recipe compiles the saved one back, with every setting."""
    import json
    import zipfile

    model, backbone, _, _ = MODELS["bert"]()
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(_recipe(model, backbone), loss=loss)
    x, y = _inputs(model)
    model.fit(x, y, verbose=0)
    path = str(tmp_path / "classifier.keras")
    model.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras: compile() is custom; the state is skipped
        loaded = keras.saving.load_model(path)
    assert not isinstance(loaded.optimizer, AdamW)  # the documented surprise
    saved = json.loads(zipfile.ZipFile(path).read("config.json"))
    loaded.compile(optimizer=keras.optimizers.deserialize(saved["compile_config"]["optimizer"]),
                   loss=loss)
    loaded.fit(x, y, verbose=0)
    assert isinstance(loaded.optimizer, AdamW)
    before = [model.optimizer.setting_of(v) for v in model.trainable_variables]
    after = [loaded.optimizer.setting_of(v) for v in loaded.trainable_variables]
    assert [(s.lr_multiplier, s.l1, s.l2) for s in after] == \
        [(s.lr_multiplier, s.l1, s.l2) for s in before]
    assert sum(s.l2 == 0 for s in after) > 10  # norms and biases excluded after the load
