"""AdamW, NadamW and SGDW: Keras' Adam, Nadam and SGD through :func:`decoupled`."""

from ._keras import TF_KERAS_IS_LEGACY, keras
from .decoupled import decoupled

if TF_KERAS_IS_LEGACY:  # tensorflow.keras is tf_keras: build on its optimizers
    import tf_keras as _base
else:
    _base = keras

__all__ = ["AdamW", "NadamW", "SGDW"]

_COMMON = """
    Arguments of this package (all keyword; see the README for the full table):
        model: a built Keras model (may be the first positional argument). Weight
            decays are read from its L1/L2/L1L2 regularizers, as (l1, l2) keyed by
            variable path, and then the penalties are removed (zero_penalties).
        weight_decays: None, a float (l2 for every trainable variable), or
            {name: l2 or (l1, l2)}; names match variable paths (exact, else the
            longest key that is a substring).
        lr_multipliers: {name: multiplier}, same matching.
        exclude_from_weight_decay: name patterns never decayed, e.g. ["bias"].
        lr_scaled_decay: False (the paper) or True (decay also times alpha_t*mu(w),
            the torch.optim.AdamW / keras.optimizers.AdamW convention).
        use_cosine_annealing, total_iterations, t_mult, eta_min, eta_max, t_cur,
            autorestart: the SGDR multiplier eta_t (cycle lengths in applied steps).
        total_iterations_wd: T_norm of the normalized decay s = sqrt(1 / T_norm);
            default: the current cycle length when total_iterations is given.
        zero_penalties: remove the model's penalties after reading them (True).
        init_verbose: print one table of every variable's settings at build (True).
        lr: alias of learning_rate.

    Per applied step, for each trainable variable w:

        decay = eta_t * s * (l1 * sign(w) + l2 * w)        # w before the step
        w    <- w - decay
        w    <- {base}_update(w, g, learning_rate = eta_t * mu(w) * alpha_t)
"""

AdamW = decoupled(_base.optimizers.Adam, name="AdamW", doc="""Adam with decoupled weight decay.

    AdamW of Loshchilov & Hutter (2019), Algorithm 2.

    Every argument of keras.optimizers.Adam works (beta_1, beta_2, epsilon, amsgrad,
    clipnorm, global_clipnorm, use_ema, gradient_accumulation_steps, ...), except
    Keras' lr-scaled `weight_decay`, which raises: use `weight_decays`.
""" + _COMMON.replace("{base}", "adam"))
AdamW.__module__ = __name__

NadamW = decoupled(_base.optimizers.Nadam, name="NadamW", doc="""Nadam with decoupled weight decay.

    Every argument of keras.optimizers.Nadam works, except `weight_decay`.
""" + _COMMON.replace("{base}", "nadam"))
NadamW.__module__ = __name__

SGDW = decoupled(_base.optimizers.SGD, name="SGDW", doc="""SGD with decoupled weight decay.

    SGDW of Loshchilov & Hutter (2019), Algorithm 1: SGD with momentum (optionally
    Nesterov) and decoupled decay.

    Every argument of keras.optimizers.SGD works (momentum, nesterov, clipnorm, ...),
    except `weight_decay`.
""" + _COMMON.replace("{base}", "sgd"))
SGDW.__module__ = __name__
