# %% [markdown]
# # 05 — Training the paper's network on MNIST
#
# Run top to bottom with `python tutorials/05_training_on_mnist.py` (about a minute on two
# cores; `LRLC_NP_QUICK=1` shrinks the training to a few seconds).
#
# Tutorials 01-04 built the layers and checked their gradients. This one trains them:
#
# 1. the paper's network, layer by layer, with its shapes and parameter counts;
# 2. softmax cross-entropy and its gradient;
# 3. SGD with momentum, Nesterov and weight decay, written out as a loop over the parameters;
# 4. the training loop in a dozen lines, then the same with `lrlc_np.train`;
# 5. batch norm's training and evaluation modes, and why early test accuracy dips;
# 6. learning curves and first-layer filters as figures.
#
# Everything runs on the 4,000 + 1,000 real MNIST digits that ship with the package.

# %%
import os
import tempfile
from pathlib import Path

import numpy as np

from lrlc_np.data import iterate_minibatches, load_mnist, to_model_input, train_val_split
from lrlc_np.gradcheck import TOLERANCE, check_loss
from lrlc_np.layers import SoftmaxCrossEntropy
from lrlc_np.models import build_network
from lrlc_np.optim import SGD
from lrlc_np.plots import plot_filters, plot_training_curves
from lrlc_np.train import TrainConfig, evaluate, train

QUICK = os.environ.get("LRLC_NP_QUICK") == "1"   # set by the test suite: a few seconds instead of a minute
FILTERS = 8 if QUICK else 16                     # the paper uses 64; 16 trains in seconds on a laptop
TRAIN_IMAGES = 512 if QUICK else 3680
EPOCHS = 1 if QUICK else 4
OUT = Path(os.environ.get("LRLC_NP_TUTORIAL_OUT", "."))   # figures go next to the working directory

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
# `-log p_c`. Its gradient is `p - onehot(c)`: every class's probability pushed down, the
# right one pushed up by `1 - p_c`. Over a batch of N the loss is the mean, so the gradient
# is divided by N. A worked example, logits `[2, 1, 0]` and label 0:
# `p = [e^2, e, 1] / (e^2 + e + 1) = [0.665, 0.245, 0.090]`, loss `-log 0.665 = 0.408`.

# %%
loss_fn = SoftmaxCrossEntropy()
z = np.array([[2.0, 1.0, 0.0]])
loss = loss_fn(z, np.array([0]))
dz = loss_fn.backward()
p = np.exp(z) / np.exp(z).sum()
print(f"loss {loss:.4f}, p {np.round(p, 3)}, dloss/dz {np.round(dz, 3)}")
assert np.isclose(loss, -np.log(np.e ** 2 / (np.e ** 2 + np.e + 1)))
assert np.allclose(dz, p - [1, 0, 0])
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
# `training=False`, so batch norm uses its running statistics (section 5).

# %%
model = build_network(("conv", "conv", "conv"), filters=FILTERS, rng=np.random.default_rng(0))
sgd = SGD(model.params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4, decay=model.decay_names())
rng = np.random.default_rng(0)
losses, val_accuracy = [], []
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
# updates running averages (momentum 0.1: each batch moves them 10% of the way). Evaluation
# uses the running averages, so that one image's output does not depend on the others in its
# batch. While the weights change fast (a high learning rate), the running averages lag
# behind the statistics the current weights produce, and accuracy measured in evaluation
# mode can dip well below the training accuracy: the validation accuracy of the loop in
# section 4, at a constant learning rate of 0.1, went up and down from epoch to epoch while
# its training loss kept falling. With the schedule of `lrlc_np.train`, whose learning rate
# decays to 0, the running statistics catch up by the end. The two sets of statistics of the
# first batch norm, right after training:

# %%
bn = trained.layers[1]                                      # the batch norm after the first conv
x_val = to_model_input(val_x[:256])
conv_out = trained.layers[0].forward(x_val, training=False)
batch_mean = conv_out.mean(axis=(0, 2, 3))
print(f"channel means of this batch   {np.round(batch_mean[:4], 3)} ...")
print(f"running means after training  {np.round(bn.buffers['running_mean'][:4], 3)} ...")
acc_eval = evaluate(trained, val_x[:256], val_y[:256])
logits_train_mode = trained.forward(x_val, training=True)  # batch statistics (this also nudges the running ones)
acc_batch = float((logits_train_mode.argmax(axis=1) == val_y[:256]).mean())
print(f"validation accuracy with running statistics {100 * acc_eval:.1f}%, with this batch's {100 * acc_batch:.1f}%")
assert bn.buffers["running_mean"].shape == (FILTERS,)

# %% [markdown]
# ## 6. Figures: learning curves and first-layer filters
#
# Saved as PNG files next to the working directory (no window opens without a display).

# %%
curves = plot_training_curves(history, OUT / "tutorial05_curves.png", title=f"All-conv network, {FILTERS} filters")
filters = plot_filters(trained.layers[0].params["weight"], OUT / "tutorial05_filters.png",
                       title="First-layer 3x3 filters after training")
print("wrote", curves, "and", filters)
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
