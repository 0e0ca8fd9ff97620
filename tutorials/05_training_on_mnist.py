# %% [markdown]
# # 05 — Training the paper's network on MNIST
#
# Run top to bottom with `python tutorials/05_training_on_mnist.py` (about a minute on two
# cores; `LRLC_NP_QUICK=1` shrinks the training to a few seconds), cell by cell, or as a
# notebook.
#
# Tutorials 01-04 built the layers and derived their gradients. This one trains them:
#
# 1. the paper's network, layer by layer, with its shapes and parameter counts;
# 2. softmax cross-entropy and its gradient;
# 3. SGD with momentum, Nesterov and weight decay, written out as a loop over the parameters;
# 4. the training loop in a dozen lines, then the same with `lrlc_np.train`;
# 5. batch norm's training and evaluation modes, and why evaluation accuracy can collapse
#    while training goes well;
# 6. learning curves and first-layer filters as figures.
#
# Everything runs on the real MNIST digits that ship with the package (their number is
# printed below).
#
# **In a course** this tutorial prepares for the `lrlc course` exercises
# `softmax_cross_entropy_backward` (`lrlc_np/ops/losses.py`, derived in section 2) and
# `batchnorm2d_backward` (`ops/normalization.py`, derived in tutorial 04), and it is where
# a student copy trains on the student's own functions. Training needs working code, not
# stand-ins, so in a student copy the first cell stops with one line naming any exercise the
# network needs that is not written yet.
#
# The stepping-through of sections 1-3 runs on the clear tier (`lrlc_np.set_ops("clear")`
# below), so a debugger lands in the formulas of `lrlc_np.ops`. The training itself runs on
# the fast tier where there is one (`lrlc_np.use_ops(TRAIN_OPS)`), because it is much
# faster; a student copy has only the clear tier, and trains on it.

# %%
from lrlc_np import stand_ins

stand_ins.require_written("05")          # a student copy: stop here, naming what to write first

import os
import tempfile
from pathlib import Path

import numpy as np

import lrlc_np
from lrlc_np import figures
from lrlc_np.data import iterate_minibatches, load_mnist, to_model_input, train_val_split
from lrlc_np.gradcheck import TOLERANCE, check_loss
from lrlc_np.layers import BatchNorm2D, SoftmaxCrossEntropy
from lrlc_np.models import build_network
from lrlc_np.optim import SGD
from lrlc_np.plots import plot_filters, plot_training_curves
from lrlc_np.tiers import available
from lrlc_np.train import TrainConfig, evaluate, train

lrlc_np.set_ops("clear")                         # step into any layer and read the formula
TRAIN_OPS = "fast" if "fast" in available() else "clear"   # training: the fast tier where this copy has one
QUICK = os.environ.get("LRLC_NP_QUICK") == "1"   # set by the test suite: a few seconds instead of a minute
FILTERS = 8 if QUICK else 16                     # the paper uses 64; 16 trains in seconds on a laptop
TRAIN_IMAGES = 512 if QUICK else 3680
EPOCHS = 1 if QUICK else 4
OUT = figures.output_folder()                    # $LRLC_NP_TUTORIAL_OUT, else the working directory

# %% [markdown]
# ## 1. The network, layer by layer
#
# Three 3x3 layers, each followed by batch norm and ReLU, then global average pooling over
# the positions and a dense layer to the ten classes. Valid padding shrinks the maps by 2 per
# layer: 28 -> 26 -> 24 -> 22. The convolutions have no bias: batch norm's shift replaces it.

# %%
model = build_network(("conv", "conv", "conv"), filters=FILTERS, rng=np.random.default_rng(0))
summary = model.summary()

# %% [markdown]
# The counts, by hand, with F filters: the first convolution has `F * 1 * 3 * 3` weights,
# the two others `F * F * 3 * 3`; each batch norm `2F` (scale and shift); the dense layer
# `F * 10 + 10`.

# %%
F = FILTERS
by_hand = F * 9 + 2 * (F * F * 9) + 3 * (2 * F) + (F * 10 + 10)
print(f"by hand: {F}*9 + 2*{F}*{F}*9 + 3*2*{F} + ({F}*10 + 10) = {by_hand:,}")
assert model.num_parameters == by_hand
x = to_model_input(load_mnist("test", dataset="mnist-sample")[0][:2])   # (2, 1, 28, 28) in [-1, 1]
shapes = []
for layer in model.layers:
    x = layer.forward(x, training=False)
    shapes.append(x.shape)
assert shapes[0] == (2, F, 26, 26) and shapes[6] == (2, F, 22, 22) and shapes[-1] == (2, 10)

# %% [markdown]
# ## 2. Softmax cross-entropy and its gradient
#
# For logits `z` of one example and its label `c`, `p = softmax(z)` and the loss is
# `-log p_c`. Written out, `-log p_c = -z_c + log sum_j exp(z_j)`, and the derivative of the
# second term with respect to `z_j` is `exp(z_j) / sum exp = p_j`, so the gradient is
# `p - onehot(c)`: every class's probability pushed down, the right one pushed up by
# `1 - p_c`. Over a batch of N the loss is the mean, so the gradient is divided by N. A worked example, logits `[2, 1, 0]` and label 0:
# `p = [e^2, e, 1] / (e^2 + e + 1) = [0.665, 0.245, 0.090]`, loss `-log 0.665 = 0.408`
# (the cell checks these three-digit values).

# %%
loss_fn = SoftmaxCrossEntropy()
z = np.array([[2.0, 1.0, 0.0]])
loss = loss_fn(z, np.array([0]))
dz = loss_fn.backward()
p = np.exp(z) / np.exp(z).sum()
print(f"loss {loss:.4f}, p {np.round(p, 3)}, dloss/dz {np.round(dz, 3)}")
assert np.isclose(loss, -np.log(np.e ** 2 / (np.e ** 2 + np.e + 1)))
assert np.allclose(dz, p - [1, 0, 0])
assert np.allclose(np.round(p, 3), [0.665, 0.245, 0.090]) and round(loss, 3) == 0.408
err = check_loss(SoftmaxCrossEntropy(), np.random.default_rng(1).standard_normal((5, 4)), np.array([0, 3, 1, 1, 2]))
print(f"finite-difference check of the batch gradient: relative error {err:.1e}")
assert err <= TOLERANCE

# %% [markdown]
# ## 3. SGD with momentum, Nesterov and weight decay, as a loop
#
# For every parameter `w` with gradient `g`, learning rate `lr`, momentum `mu` and weight
# decay `lambda` (on weights only: not on biases, batch norm or combining logits):
#
# ```
# g = g + lambda * w           weight decay: the gradient of (lambda / 2) * ||w||^2
# v = mu * v + g               the velocity, a running sum of past gradients
# g = g + mu * v               Nesterov: look one step ahead along the velocity (plain momentum: g = v)
# w = w - lr * g
# ```
#
# The loop below does one step on a copy of the parameters and checks it against
# `lrlc_np.optim.SGD`.

# %%
images, labels = load_mnist("train", dataset="mnist-sample")
(train_x, train_y), (val_x, val_y) = train_val_split(images, labels)
print(f"the bundled sample: {len(images):,} training digits ({len(train_x):,} to train on, {len(val_x)} to "
      f"validate), and {len(load_mnist('test', dataset='mnist-sample')[1]):,} test digits")
xb, yb = to_model_input(train_x[:32]), train_y[:32]
loss_fn(model.forward(xb), yb)
model.backward(loss_fn.backward())
grads = {name: g.copy() for name, g in model.grads.items()}
decayed = set(model.decay_names())

lr, mu, weight_decay = 0.1, 0.9, 5e-4
mine = {name: p.copy() for name, p in model.params.items()}
velocity = {name: np.zeros_like(p) for name, p in mine.items()}
for name, w in mine.items():                     # the whole optimiser, one parameter at a time
    g = grads[name] + (weight_decay * w if name in decayed else 0)
    velocity[name] = mu * velocity[name] + g
    w -= lr * (g + mu * velocity[name])

sgd = SGD(model.params, lr, momentum=mu, nesterov=True, weight_decay=weight_decay, decay=decayed)
sgd.step(grads)
assert all(np.allclose(mine[name], p, rtol=1e-6, atol=1e-7) for name, p in model.params.items())
print(f"one step of the loop == SGD.step on all {len(mine)} parameters; "
      f"{len(decayed)} of them decayed: {sorted(decayed)}")

# %% [markdown]
# ## 4. The training loop in a dozen lines
#
# One epoch visits the training images once in a fresh random order (a permutation, not
# sampling with replacement). Each step: forward, loss, backward, SGD step. Evaluation uses
# `training=False`, so batch norm uses its running statistics (section 5). The learning rate
# stays at 0.1 throughout.

# %%
model = build_network(("conv", "conv", "conv"), filters=FILTERS, rng=np.random.default_rng(0))
sgd = SGD(model.params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4, decay=model.decay_names())
rng = np.random.default_rng(0)
losses, val_accuracy = [], []
with lrlc_np.use_ops(TRAIN_OPS):
    for epoch in range(EPOCHS):
        for x_batch, y_batch in iterate_minibatches(train_x[:TRAIN_IMAGES], train_y[:TRAIN_IMAGES], 32, rng):
            loss = loss_fn(model.forward(to_model_input(x_batch), training=True), y_batch)
            model.backward(loss_fn.backward())
            sgd.step(model.grads)
            losses.append(loss)
        val_accuracy.append(evaluate(model, val_x, val_y))
        print(f"epoch {epoch + 1}: mean loss of its last 10 steps {np.mean(losses[-10:]):.3f}, "
              f"validation accuracy {100 * val_accuracy[-1]:.1f}%")
assert np.mean(losses[-10:]) < np.mean(losses[:10])        # it learns

# %% [markdown]
# `lrlc_np.train` is this loop plus what a real run needs: a learning-rate schedule (a
# linear warm-up, then cosine decay to 0), the validation and test sets after every epoch,
# atomic checkpoints and resume, and a metrics file. `lrlc train` on the command line calls
# it.

# %%
run_dir = Path(tempfile.mkdtemp(prefix="lrlc_tutorial05_"))
config = TrainConfig(layers=("conv", "conv", "conv"), filters=FILTERS, epochs=EPOCHS, batch_size=32, lr=0.1,
                     warmup_epochs=0.25, dataset="mnist-sample", limit_train=TRAIN_IMAGES, seed=0)
with lrlc_np.use_ops(TRAIN_OPS):
    history, trained = train(config, run_dir, progress=False)
last = history[-1]
print(f"lrlc_np.train: test accuracy {100 * last['test_acc']:.1f}% after {len(history)} epochs "
      f"({last['images_per_s']:.0f} images/s)")
assert len(history) == EPOCHS and (run_dir / "checkpoint.npz").exists()
if not QUICK:
    assert last["train_loss"] < np.log(10)                   # below the loss of a uniform guess, ln 10
    assert last["test_acc"] > 0.7                            # the decayed learning rate settles batch norm

# %% [markdown]
# ## 5. Batch norm: training mode and evaluation mode
#
# In training mode batch norm normalises with the statistics of the current batch and
# updates running averages (momentum 0.1: each batch moves them a tenth of the way towards
# its own). Evaluation uses the running averages, so that one image's output does not depend
# on the others in its batch. (Tutorial 04 derived the backward pass of both modes.)
#
# While the weights change fast, the running averages describe the weights of many steps
# ago, not the current ones: evaluation mode then normalises with the wrong statistics, and
# its accuracy can fall far below what the weights can do. The loop of section 4 kept its
# learning rate at 0.1, and its validation accuracy (printed there, per epoch) is the
# symptom. To show that the running statistics are the cause, freeze the weights and only
# recompute the statistics: run the training images through the network in training mode
# (no backward pass, no step), with the momentum of step t set to `1 / (t + 1)`, so that each
# running average becomes the plain average over all the batches. Then evaluate again.

# %%
def refresh_running_statistics(model, images, batch_size=32):
    """Recompute every batch norm's running mean and variance from ``images``, weights frozen."""
    norms = [layer for layer in model.layers if isinstance(layer, BatchNorm2D)]
    momenta = [bn.momentum for bn in norms]
    for step, start in enumerate(range(0, len(images), batch_size)):
        for bn in norms:
            bn.momentum = 1 / (step + 1)            # running value = the mean over the batches so far
        model.forward(to_model_input(images[start:start + batch_size]), training=True)   # no backward, no step
    for bn, momentum in zip(norms, momenta):
        bn.momentum = momentum


weights_before = {name: p.copy() for name, p in model.params.items()}
gains = {}
with lrlc_np.use_ops(TRAIN_OPS):
    for name, net in (("constant learning rate (section 4)", model), ("lrlc_np.train, decayed to 0", trained)):
        before = evaluate(net, val_x, val_y)
        refresh_running_statistics(net, train_x[:TRAIN_IMAGES])
        after = evaluate(net, val_x, val_y)
        gains[name] = after - before
        print(f"{name:<36} validation accuracy {100 * before:5.1f}% -> {100 * after:5.1f}% "
              f"with refreshed running statistics")
assert all(np.array_equal(weights_before[name], p) for name, p in model.params.items())   # weights frozen
if not QUICK:
    assert gains["constant learning rate (section 4)"] > 0.1           # stale statistics were the problem
    assert gains["constant learning rate (section 4)"] > gains["lrlc_np.train, decayed to 0"]

# %% [markdown]
# The first line shows it: the same weights, with statistics that match them, classify far
# better. The second line is the network of `lrlc_np.train`, whose learning rate decays to 0:
# in its last steps the weights barely move, the running averages catch up with them, and
# refreshing changes much less. That is one reason to end training with a small learning
# rate, and why the curves of `lrlc_np.train` (section 6) end high.

# %% [markdown]
# ## 6. Figures: learning curves and first-layer filters
#
# `lrlc_np.plots` draws the figures that `lrlc train` writes; here they are shown (and saved
# as PNG files in the working directory, or `$LRLC_NP_TUTORIAL_OUT`).

# %%
curves = plot_training_curves(history, OUT / "tutorial05_curves.png",
                              title=f"All-conv network, {FILTERS} filters, lrlc_np.train")
figures.show(curves)
filters = plot_filters(trained.layers[0].params["weight"], OUT / "tutorial05_filters.png",
                       title="First-layer 3x3 filters after training")
figures.show(filters)
assert curves.exists() and filters.exists()

# %% [markdown]
# ## Exercises
#
# 1. Train without momentum (`momentum=0`) and with plain momentum (`nesterov=False`) for the
#    same number of steps. Which reaches the lower loss?
# 2. Set weight decay to 0.05. What happens to the norms of the filters, and to accuracy?
# 3. Replace the third layer by `"lrlc"` with `rank=4` in `TrainConfig(layers=...)`. Does it
#    beat the convolution on this small sample? (`lrlc compare --quick` runs that comparison
#    over two seeds.)
# 4. Evaluate the trained model with `training=True` on batches of size 1. Why does it fail?
# 5. Refresh the running statistics after every epoch of the loop in section 4 and print the
#    validation accuracy again. Does the accuracy still go up and down?
#
# **Check your own code.** In a student copy, `pytest tests/test_ops_gradients.py -k
# "softmax_cross_entropy or batchnorm"` checks the two backward passes this network needs
# besides the convolution's; your teacher grades them with `lrlc course grade`. Then run this
# tutorial, or `lrlc train --dataset mnist-sample --epochs 5 --filters 16 --batch-size 32
# --lr 0.1 --warmup-epochs 0.25 --out runs/mine`: the network trains on your own functions.
#
# Next: tutorial 06 computes the combining weights from each input, the paper's second
# variant of the layer; tutorial 07 measures what the paper is about, spatial invariance,
# in single layers and in trained networks.
