"""The ``init_verbose`` table: what each variable gets, printed once at build."""

from . import step as steps, units
from .step import Step

__all__ = ["settings_table"]


def _initial_learning_rate(optimizer):
    """alpha_0 as a float, or None when it cannot be read here (inside a trace)."""
    try:
        value = optimizer._learning_rate
        if callable(value) and not hasattr(value, "numpy"):
            value = value(0)
        return float(value.numpy() if hasattr(value, "numpy") else value)
    except Exception:  # a symbolic value: the table says "lr-scaled" instead
        return None


def _timescale(optimizer, setting) -> str:
    """tau = 1 / (c_peak(mu) * l2) in applied steps (``units.py``), or "-"."""
    c = (units.peak_scale(optimizer, setting.lr_multiplier, not setting.timescale)
         if setting.l2 else None)
    return f"{1.0 / (c * setting.l2):.4g} steps" if c else "-"


def settings_table(optimizer, settings, variables) -> str:
    """One row per variable: path, shape, lr multiplier, l1, l2, the decay of the
    first step, ``c * (l1 * sign(w) + l2 * w)`` with c = eta_0 * s_0 (times alpha_0 * mu
    with ``lr_scaled_decay``), and the timescale of its l2 at the schedule's peak."""
    eta0, c = optimizer.schedule_scalars((optimizer._t_cur_start, optimizer.total_iterations or 1, 0))
    norm = steps.normalization(optimizer, optimizer.total_iterations or 1)  # s_0
    c0 = eta0 * norm
    follows = optimizer.decay_follows_schedule
    alpha0 = (_initial_learning_rate(optimizer) if optimizer.lr_scaled_decay or follows
              else 1.0)
    if alpha0 is not None and follows:
        c = steps._follow(optimizer, c, alpha0)  # times alpha_0 / alpha_peak
    step = None if alpha0 is None else Step(eta0, c, alpha0 * eta0, optimizer.lr_scaled_decay,
                                            norm)

    header = ("variable", "shape", "lr_mult", "l1", "l2", "decay at step 0", "timescale")
    rows = []
    for setting, variable in zip(settings, variables):
        if not (setting.l1 or setting.l2):
            first = "-"
        elif alpha0 is None:
            first = "lr-scaled"
        else:  # (a1, a2) of the first step (step.py)
            a1, a2 = step.decay(setting.lr_multiplier, setting.l1, setting.l2,
                                normalized=not setting.timescale)
            d = "(w-w0)" if setting.toward == "initial" else "w"
            parts = ([f"{a2:.3g}*{d}"] if a2 is not None else []) + (
                [f"{a1:.3g}*sign({d})"] if a1 is not None else [])
            first = " + ".join(parts)
        rows.append((setting.path, str(tuple(variable.shape)), f"{setting.lr_multiplier:g}",
                     f"{setting.l1:g}", f"{setting.l2:g}", first,
                     _timescale(optimizer, setting)))
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]

    def line(row):
        return "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()

    kind = "lr-scaled" if optimizer.lr_scaled_decay else "decoupled"
    if optimizer.decay_follows_schedule:
        kind = "corrected (AdamC)" if optimizer.lr_scaled_decay else kind + ", following the schedule"
    title = (f"{optimizer.name}: eta_0={eta0:.4g}, eta_0*s_0={c0:.4g}, {kind} decay"
             + (", cautious" if optimizer.cautious_decay else ""))
    return "\n".join([title, line(header), line(["-" * w for w in widths])]
                     + [line(r) for r in rows])
