"""lrlc_np: convolution, locally connected and low-rank locally connected layers in NumPy.

A teaching implementation of Elsayed, Ramachandran, Shlens and Kornblith, "Revisiting
Spatial Invariance with Low-Rank Local Connectivity" (ICML 2020, arXiv:2002.02959), with
every forward pass written out and every backward pass derived by hand. Read in this order:

    lrlc_np.reference  the loop definitions, forward and backward: the equations as loops
    lrlc_np.ops        the clear tier: vectorised forward/backward functions, one product per step
    lrlc_np.fast       the fast tier: the same functions, tuned (threads, NHWC memory, ...)
    lrlc_np.layers     layers with params/grads: Conv2D, LocallyConnected2D, LowRankLocallyConnected2D, ...
    lrlc_np.gradcheck  finite-difference gradient checks
    lrlc_np.backend    the NumPy/CuPy switch

The layers run the fast tier unless told otherwise: ``lrlc_np.set_ops("clear")``,
``with lrlc_np.use_ops("clear"): ...``, or ``LRLC_NP_OPS=clear`` in the environment.
"""

__all__ = ["get_ops", "set_ops", "use_ops", "__version__"]
__version__ = "0.7.3"


def __getattr__(name):
    """``lrlc_np.set_ops`` and friends, imported on first use: ``import lrlc_np.cli`` then reads
    no environment variable yet, so the command line can report a bad one in one line."""
    if name in ("get_ops", "set_ops", "use_ops"):
        from . import tiers

        return getattr(tiers, name)
    raise AttributeError(f"module 'lrlc_np' has no attribute {name!r}")
