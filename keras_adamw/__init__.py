"""keras_adamw: AdamW, NadamW, SGDW and warm restarts for Keras 3, exact to the papers.

Loshchilov & Hutter, *Decoupled Weight Decay Regularization* (ICLR 2019) and
*SGDR: Stochastic Gradient Descent with Warm Restarts* (ICLR 2017).
"""

from .decoupled import decoupled
from .optimizers import AdamW, NadamW, SGDW
from .compat import fill_dict_in_order
from .regularizers import DeclaredDecay, get_weight_decays

__version__ = "2.0.0"
__all__ = ["AdamW", "NadamW", "SGDW", "decoupled", "get_weight_decays",
           "fill_dict_in_order", "DeclaredDecay", "__version__"]
