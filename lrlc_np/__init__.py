"""lrlc_np: convolution, locally connected and low-rank locally connected layers in NumPy.

A teaching implementation of Elsayed, Ramachandran, Shlens and Kornblith, "Revisiting
Spatial Invariance with Low-Rank Local Connectivity" (ICML 2020, arXiv:2002.02959), with
every forward pass written out and every backward pass derived by hand.

    lrlc_np.ops        pure forward/backward functions
    lrlc_np.layers     layers with params/grads: Conv2D, LocallyConnected2D, LowRankLocallyConnected2D, ...
    lrlc_np.reference  naive loop versions of the forward passes (the definitions)
    lrlc_np.gradcheck  finite-difference gradient checks
    lrlc_np.backend    the NumPy/CuPy switch
"""

__version__ = "0.3.0"
