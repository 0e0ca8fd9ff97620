"""Stochastic gradient descent with momentum, and learning-rate schedules.

The optimiser lives apart from the layers: it owns one velocity array per parameter name,
reads the gradients the layers' ``backward`` wrote, and updates the parameters in place.

    v <- momentum * v + (g + weight_decay * p)             (decay only for weight matrices)
    p <- p - lr * v                                        (heavy ball)
    p <- p - lr * (g + weight_decay * p + momentum * v)    (Nesterov)

These are PyTorch's ``torch.optim.SGD`` equations (dampening 0), so a run here and a
PyTorch run with the same settings follow the same recipe.
"""

from __future__ import annotations

import math
import numbers

from .backend import get_array_module
from .options import SCHEDULES



class SGD:
    """SGD with momentum, optional Nesterov momentum and decoupled-from-bias weight decay.

    params        dict name -> array, updated in place (e.g. ``model.params``)
    lr            learning rate; the trainer sets ``optimizer.lr`` from a schedule each step
    momentum      0 turns momentum off
    nesterov      use Nesterov momentum (needs momentum > 0)
    weight_decay  L2 penalty coefficient, applied only to the names in ``decay``
    decay         names that get weight decay (default: all). Pass ``model.decay_names()``
                  to leave biases, BatchNorm parameters and combining logits undecayed.
    """

    def __init__(self, params, lr, momentum=0.9, nesterov=False, weight_decay=0.0, decay=None):
        for name, value in (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay)):
            if not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
                raise ValueError(f"SGD: expected {name} as a finite number >= 0, got {value!r}")
        if nesterov and momentum <= 0:
            raise ValueError(f"SGD: Nesterov momentum needs momentum > 0, got {momentum!r}")
        self.params = params
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.weight_decay = float(weight_decay)
        self.decay = set(params) if decay is None else set(decay)
        unknown = self.decay - set(params)
        if unknown:
            raise ValueError(f"SGD: decay names not among the parameters: {sorted(unknown)}")
        self.velocity = {name: get_array_module(p).zeros_like(p) for name, p in params.items()}

    def step(self, grads):
        """Update every parameter in place from ``grads`` (dict with the same names)."""
        missing = set(self.params) - set(grads)
        if missing:
            raise ValueError(f"SGD.step: no gradient for {sorted(missing)}")
        for name, p in self.params.items():
            g = grads[name]
            if self.weight_decay and name in self.decay:
                g = g + self.weight_decay * p
            if self.momentum:
                v = self.velocity[name]
                v *= self.momentum
                v += g
                g = g + self.momentum * v if self.nesterov else v
            p -= (self.lr * g).astype(p.dtype, copy=False)

    def state_dict(self) -> dict:
        """Arrays and numbers that restore the optimiser exactly (for checkpoints)."""
        state = {f"velocity/{name}": v.copy() for name, v in self.velocity.items()}
        state["lr"] = self.lr
        return state

    def load_state_dict(self, state) -> None:
        for name, v in self.velocity.items():
            if f"velocity/{name}" not in state:
                raise ValueError(f"SGD: the saved state has no velocity for {name}")
            saved = state[f"velocity/{name}"]
            if tuple(saved.shape) != tuple(v.shape):
                raise ValueError(f"SGD: saved velocity for {name} has shape {tuple(saved.shape)}, expected {tuple(v.shape)}")
            v[...] = get_array_module(v).asarray(saved)
        self.lr = float(state.get("lr", self.lr))

    def __repr__(self):
        return (f"SGD(lr={self.lr:g}, momentum={self.momentum:g}, nesterov={self.nesterov}, "
                f"weight_decay={self.weight_decay:g}, {len(self.decay)}/{len(self.params)} decayed)")


def learning_rate(schedule, step, total_steps, base_lr, warmup_steps=0, step_every=None, gamma=0.1):
    """Learning rate at ``step`` (0-based) of ``total_steps``.

    "constant"  base_lr
    "step"      base_lr * gamma ** (step // step_every)        (default step_every: a third of the run)
    "cosine"    linear warm-up from base_lr/warmup_steps to base_lr over ``warmup_steps``, then
                base_lr * (1 + cos(pi * t)) / 2 with t going from 0 to 1 over the remaining steps
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"learning_rate: expected schedule to be one of {SCHEDULES}, got {schedule!r}")
    if schedule == "constant":
        return base_lr
    if schedule == "step":
        every = step_every or max(1, math.ceil(total_steps / 3))
        return base_lr * gamma ** (step // every)
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * min(t, 1.0)))
