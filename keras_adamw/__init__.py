"""keras_adamw: AdamW, NadamW, SGDW and warm restarts for Keras 3, exact to the papers.

Loshchilov & Hutter, *Decoupled Weight Decay Regularization* (ICLR 2019) and
*SGDR: Stochastic Gradient Descent with Warm Restarts* (ICLR 2017).
"""

from .decoupled import decoupled
from .optimizers import AdamW, NadamW, SGDW
from .callbacks import ScheduleLogger, plot_schedule, preview_schedule
from .compat import fill_dict_in_order
from .layerwise import layerwise_lr_multipliers
from .regularizers import DeclaredDecay, get_weight_decays, restore_penalties
from .restore import NORM_LAYERS
from .units import Timescale

__version__ = "2.3.0"
__all__ = ["AdamW", "NadamW", "SGDW", "decoupled", "get_weight_decays",
           "fill_dict_in_order", "DeclaredDecay", "restore_penalties", "layerwise_lr_multipliers",
           "ScheduleLogger", "preview_schedule", "plot_schedule", "NORM_LAYERS", "Timescale",
           "__version__"]
