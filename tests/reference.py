"""An independent NumPy reference, written from the papers' pseudo-code.

* Loshchilov & Hutter, *Decoupled Weight Decay Regularization* (ICLR 2019):
  Algorithm 1 (SGD with momentum and decoupled decay, SGDW) and Algorithm 2
  (Adam with decoupled decay, AdamW), with the normalized decay of Appendix B.1,
  lambda = lambda_norm * sqrt(1 / T_norm).
* Loshchilov & Hutter, *SGDR* (ICLR 2017), eq. (5), in the cycle shape of
  keras-adamw 1.38: eta goes from eta_max at the first step of a cycle to eta_min at
  its last step, T_cur / T_i replaced by k / (T_i - 1).
* Dozat, *Incorporating Nesterov Momentum into Adam* (2016), Algorithm 2, with the
  momentum schedule mu_t = beta_1 * (1 - 0.5 * 0.96^t) that Keras' Nadam uses.
* Decay that follows the learning-rate schedule (decay_follows_schedule) multiplies
  the decay by alpha_t / alpha_peak; decay toward the start (L2-SP: Li, Grandvalet &
  Davoine, ICML 2018) replaces w by w - w0 in the decay.
* Corrected decay (Defazio 2025, AdamC): the lr-scaled decay gamma_t * lambda * d times
  gamma_t / gamma_max, gamma_t = alpha_t eta_t mu. Cautious decay (Chen et al. 2025):
  the decay only where the base's step and d agree in sign, [u * d >= 0].
* The other bases, as their papers (and Keras' documentation of its defaults) give
  them: AMSGrad (Reddi et al., 2018: the running maximum of v), Adamax (Kingma & Ba,
  Section 7.1), Adagrad (Duchi et al., 2011, accumulator starting at 0.1 as in Keras),
  Adadelta (Zeiler, 2012, Algorithm 1, times the learning rate), RMSprop (Tieleman &
  Hinton, 2012: g / sqrt(E[g^2] + epsilon)) and Lion (Chen et al., 2023, Algorithm 2).

Adam is written as Kingma & Ba's Algorithm 1 with bias-corrected moments m_hat,
v_hat and epsilon in the "efficient" placement of their Section 2 (epsilon_hat =
epsilon * sqrt(1 - beta_2^t), which is how Keras implements it); the paper's
Algorithm 2 leaves that detail to Adam.

Nothing here imports keras_adamw or keras.
"""

import math

import numpy as np


def sgdr_multiplier(k, cycle, eta_min, eta_max):
    """eta for the k-th step (0-based) of a cycle of ``cycle`` steps."""
    if cycle == 1:
        return eta_max
    k = min(k, cycle - 1)
    return eta_min + 0.5 * (eta_max - eta_min) * (1 + math.cos(math.pi * k / (cycle - 1)))


def shaped_multiplier(k, cycle, index, eta_min, eta_max, warmup=0, each_cycle=False,
                      decay=1.0, limit=None):
    """The README's shaped cycle: a linear warmup of w steps inside the cycle, from
    eta_min to the cycle's peak (reached at k = w), then the 1.38 cosine over the
    remaining steps from the peak down to eta_min; peaks decay by ``decay`` per
    restart (never below eta_min); after ``limit`` cycles eta stays at eta_min."""
    if limit is not None and index >= limit:
        return eta_min
    peak = max(eta_min, eta_max * decay ** index)
    w = warmup if (each_cycle or index == 0) else 0
    k = min(k, cycle - 1)
    if k < w:
        return eta_min + (peak - eta_min) * (k + 1) / (w + 1)
    return sgdr_multiplier(k - w, cycle - w, eta_min, peak)


def _applied(w, step):
    """The step as it changes a float32 weight: 0 where it is below the weight's
    resolution (the weight does not move), else the step's sign. keras_adamw reads
    cautious decay's u off the base's own step, w before minus w after, so that it
    needs no knowledge of the base: it is the paper's u wherever the weight moves."""
    w32 = np.asarray(w, dtype=np.float32)
    return w32 - (w32 - np.asarray(step, dtype=np.float32)).astype(np.float32)


class Reference:
    """The whole optimizer for a list of float64 arrays.

    algo: "adam", "nadam" or "sgd" (with ``momentum``, ``nesterov``).
    mus: lr multiplier per variable; decays: (l1, l2) per variable.
    norm: "cycle" (T_norm = current cycle length), an int (total_iterations_wd),
    or None (no normalization).
    """

    def __init__(self, algo, weights, lr, mus, decays, *, annealing=False,
                 total_iterations=None, t_mult=1, eta_min=0.0, eta_max=1.0,
                 autorestart=None, norm=None, lr_scaled=False, momentum=0.0,
                 nesterov=False, beta_1=0.9, beta_2=0.999, epsilon=1e-7, warmup=0,
                 warmup_each_cycle=False, cycle_decay=1.0, cycle_limit=None,
                 amsgrad=False, rho=0.9, initial_accumulator_value=0.1, alpha_peak=None,
                 anchors=None, corrected=False, cautious=False):
        self.algo, self.lr, self.mus, self.decays = algo, lr, mus, decays
        # corrected decay (AdamC, with lr_scaled): times gamma_t / gamma_max
        self.corrected = corrected
        # cautious decay: only where the base step and d agree in sign
        self.cautious = cautious
        # decay_follows_schedule: the decay also times alpha_t / alpha_peak
        self.alpha_peak = alpha_peak
        # decay_toward="initial": the decay pulls w toward w0 (None: toward 0)
        self.anchors = [None if a is None else np.array(a, dtype=np.float64)
                        for a in (anchors or [None] * len(weights))]
        self.amsgrad, self.rho = amsgrad, rho
        self.w = [np.array(w, dtype=np.float64) for w in weights]
        self.m = [np.zeros_like(w) for w in self.w]
        self.v = [np.zeros_like(w) for w in self.w]
        if algo == "adagrad":
            self.v = [np.full_like(w, initial_accumulator_value) for w in self.w]
        self.v_max = [np.zeros_like(w) for w in self.w]
        self.annealing, self.t_mult = annealing, t_mult
        self.eta_min, self.eta_max = eta_min, eta_max
        self.autorestart = annealing if autorestart is None else autorestart
        self.cycle = total_iterations
        self.norm, self.lr_scaled = norm, lr_scaled
        self.momentum, self.nesterov = momentum, nesterov
        self.b1, self.b2, self.eps = beta_1, beta_2, epsilon
        self.t = 0          # applied steps so far (Adam's t - 1)
        self.t_cur = 0      # steps into the current cycle
        self.index = 0      # cycles completed (automatic restarts)
        self.shape = dict(warmup=warmup, each_cycle=warmup_each_cycle, decay=cycle_decay,
                          limit=cycle_limit)
        self.mu_product = 1.0
        self.etas = []

    def alpha(self, t):
        return self.lr(t) if callable(self.lr) else self.lr

    def step(self, grads):
        alpha = self.alpha(self.t)
        eta = shaped_multiplier(self.t_cur, self.cycle, self.index, self.eta_min,
                                self.eta_max, **self.shape) if self.annealing else 1.0
        self.etas.append(eta)
        if self.norm == "cycle":
            s = math.sqrt(1.0 / self.cycle)
        elif isinstance(self.norm, int):
            s = math.sqrt(1.0 / self.norm)
        else:
            s = 1.0
        self.t += 1
        t = self.t
        if self.algo == "nadam":
            mu_t = self.b1 * (1 - 0.5 * 0.96 ** t)
            mu_next = self.b1 * (1 - 0.5 * 0.96 ** (t + 1))
            self.mu_product *= mu_t
        for i, g in enumerate(grads):
            g = np.asarray(g, dtype=np.float64)
            w = self.w[i]
            l1, l2 = self.decays[i]
            lr_w = eta * self.mus[i] * alpha
            # Decoupled decay: eta_t * lambda * w (Alg. 1 line 9, Alg. 2 line 12).
            c = eta * s * (alpha * self.mus[i] if self.lr_scaled else 1.0)
            if self.alpha_peak is not None:
                c *= alpha / self.alpha_peak
            if self.corrected:  # gamma_t / gamma_max = (alpha_t eta_t) / (alpha_peak eta_max)
                c *= eta / self.eta_max
            d = w if self.anchors[i] is None else w - self.anchors[i]
            decay = c * (l1 * np.sign(d) + l2 * d)
            if self.algo == "sgd":
                if self.momentum:
                    self.m[i] = self.momentum * self.m[i] + lr_w * g
                    step = (self.momentum * self.m[i] + lr_w * g) if self.nesterov else self.m[i]
                else:
                    step = lr_w * g
            elif self.algo == "adam":
                self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * g
                self.v[i] = self.b2 * self.v[i] + (1 - self.b2) * g * g
                m_hat = self.m[i] / (1 - self.b1 ** t)
                if self.amsgrad:  # AMSGrad: the running maximum of v
                    self.v_max[i] = np.maximum(self.v_max[i], self.v[i])
                v_hat = (self.v_max[i] if self.amsgrad else self.v[i]) / (1 - self.b2 ** t)
                eps_hat = self.eps / math.sqrt(1 - self.b2 ** t)
                step = lr_w * m_hat / (np.sqrt(v_hat) + eps_hat)
            elif self.algo == "adamax":  # u: the exponentially weighted infinity norm
                self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * g
                self.v[i] = np.maximum(self.b2 * self.v[i], np.abs(g))
                step = lr_w / (1 - self.b1 ** t) * self.m[i] / (self.v[i] + self.eps)
            elif self.algo == "adagrad":
                self.v[i] = self.v[i] + g * g
                step = lr_w * g / np.sqrt(self.v[i] + self.eps)
            elif self.algo == "adadelta":  # v: E[g^2], m: E[dx^2]
                self.v[i] = self.rho * self.v[i] + (1 - self.rho) * g * g
                dx = -np.sqrt(self.m[i] + self.eps) / np.sqrt(self.v[i] + self.eps) * g
                self.m[i] = self.rho * self.m[i] + (1 - self.rho) * dx * dx
                step = -lr_w * dx
            elif self.algo == "rmsprop":
                self.v[i] = self.rho * self.v[i] + (1 - self.rho) * g * g
                step = lr_w * g / np.sqrt(self.v[i] + self.eps)
            elif self.algo == "lion":  # beta_1 interpolates the update, beta_2 the momentum
                step = lr_w * np.sign(self.b1 * self.m[i] + (1 - self.b1) * g)
                self.m[i] = self.b2 * self.m[i] + (1 - self.b2) * g
            elif self.algo == "nadam":
                self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * g
                self.v[i] = self.b2 * self.v[i] + (1 - self.b2) * g * g
                m_hat = (mu_next * self.m[i] / (1 - self.mu_product * mu_next)
                         + (1 - mu_t) * g / (1 - self.mu_product))
                v_hat = self.v[i] / (1 - self.b2 ** t)
                step = lr_w * m_hat / (np.sqrt(v_hat) + self.eps)
            else:
                raise ValueError(self.algo)
            if self.cautious:  # Chen et al. 2025: [u * d >= 0], u the base's step
                decay = np.where(np.sign(_applied(w, step)) * np.sign(d) >= 0, decay, 0.0)
            self.w[i] = w - decay - step
        self.t_cur += 1
        if self.autorestart and self.t_cur >= self.cycle:
            self.t_cur = 0
            self.cycle *= self.t_mult
            self.index += 1
