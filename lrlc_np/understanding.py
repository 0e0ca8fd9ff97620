"""Check your understanding: short questions that a tutorial asks and a cell of it checks.

A tutorial asks its questions in prose, then gives a cell to answer them and one to check::

    answers = {"output_size": None, "dweight": None}     # replace each None with your answer
    understanding.check("convolution", answers)

``check`` prints (and ``judge`` returns), for every question, whether the answer is right
(and why), wrong (and a hint that does not give it away), or not given yet. The right
answers are computed here, mostly by the library's own functions, when ``check`` runs;
nothing is graded or recorded.

Kinds of answer: a number (``int`` or ``float``; compared within the question's tolerance), a
shape (a tuple of ints), or the letter of a choice (``"a"``, ``"b"``, ...).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple


class Question(NamedTuple):
    """One question: its key in the answers dict, how to compute the right answer, what to say."""

    key: str
    expected: Callable[[], object]     # computes the right answer
    kind: str                          # "number", "shape" or "choice"
    hint: str                          # shown after a wrong answer: where to look, not the answer
    why: str                           # shown after a right one: the reasoning in one line
    tolerance: float = 1e-9            # numbers: relative tolerance


RIGHT, WRONG, UNANSWERED = "right", "wrong", "not answered yet"


# --------------------------------------------------------------------------- the questions

def _convolution():
    from .backend import xp

    from .ops import col2im, conv_output_size, im2col

    def max_copies():
        counts = col2im(xp.ones(im2col(xp.zeros((1, 1, 11, 11)), (3, 3), (2, 2), (0, 0)).shape),
                        (1, 1, 11, 11), (3, 3), (2, 2), (0, 0))
        return int(counts.max())

    return [
        Question("output_size", lambda: conv_output_size(28, 5, 2, 1), "number",
                 "H_out = (H + 2*padding - kh) // stride + 1 (section 2); mind the floor division",
                 "(28 + 2*1 - 5) // 2 + 1: the kernel's corner fits at rows 0, 2, ..., 24 of the padded 30 rows"),
        Question("im2col_shape", lambda: im2col(xp.zeros((8, 3, 10, 10)), (3, 3), (1, 1), (1, 1)).shape, "shape",
                 "one row per output position of every image (M = N*H_out*W_out), one column per "
                 "number of a patch (R = C_in*kh*kw); padding 1 keeps 10x10 at stride 1",
                 "M = 8*10*10 patches, each C_in*kh*kw = 3*3*3 numbers long"),
        Question("max_copies", max_copies, "number",
                 "count the windows that cover one pixel along a row, and along a column, then multiply; "
                 "or run col2im on a matrix of ones (section 4)",
                 "along each axis a 3-wide window moving 2 at a time covers a pixel at most twice: 2 * 2"),
        Question("dweight", lambda: "b", "choice",
                 "shapes decide it: dW must be (C_out, R), dY is (M, C_out) and X is (M, R)",
                 "dW[o, r] = sum_m dY[m, o] X[m, r], i.e. (C_out, M) @ (M, R)"),
        Question("col2im_adds", lambda: "c", "choice",
                 "think of the forward pass as copying each pixel into several patches, and ask what "
                 "the gradient of a copy is",
                 "a pixel copied into several patches influences the loss through each copy, so its "
                 "gradient is the sum over the copies"),
    ]


def _gradient_checking():
    from .backend import xp

    from .gradcheck import numerical_gradient, relative_error

    def calls():
        count = [0]

        def f(v):
            count[0] += 1
            return v * 2.0

        numerical_gradient(f, xp.zeros((2, 3, 4, 4)), xp.ones((2, 3, 4, 4)))
        return count[0]

    return [
        Question("calls", calls, "number",
                 "a centred difference evaluates f twice for each entry of x it nudges",
                 "2 calls for each of the 2*3*4*4 entries"),
        Question("dy_ones", lambda: "b", "choice",
                 "what does a backward pass that shuffles dy compute when every entry of dy is the same?",
                 "a permuted dy = ones is still ones, so a permuting bug gives the right answer"),
        Question("relative_error", lambda: relative_error(xp.array([1.0, 2.0, 3.0]), xp.array([1.0, 2.0, 3.003])),
                 "number", "relative_error(a, b) = max|a - b| / max(max|a|, max|b|, 1e-2) (section 5)",
                 "the largest difference, 0.003, over the largest magnitude, 3.003", tolerance=0.02),
        Question("float32", lambda: "b", "choice",
                 "look at the float32 column of the eps sweep in section 4",
                 "float32 keeps about 7 digits, so round-off divided by eps swamps every eps before "
                 "truncation gets small enough"),
    ]


def _local_connectivity():
    from .layers import LocallyConnected2D, LowRankLocallyConnected2D

    return [
        Question("lc_weights",
                 lambda: LocallyConnected2D(1, 8, 3, input_size=10, bias=False).num_parameters, "number",
                 "one filter bank (C_out, C_in, kh, kw) at every one of the H_out x W_out positions (section 2)",
                 "8*8 positions times a bank of 8*1*3*3 weights"),
        Question("lrlc_weights",
                 lambda: LowRankLocallyConnected2D(1, 8, 3, input_size=10, rank=2, bias=False,
                                                   spatial_bias=False).num_parameters, "number",
                 "K basis banks of C_out*C_in*kh*kw, plus K logits per output row and K per output "
                 "column (section 2)",
                 "2 bases of 8*1*3*3 weights, plus 2*(8 + 8) row and column logits"),
        Question("softmax_sum", lambda: 1, "number",
                 "softmax turns the K logits of one position into a probability distribution (section 5)",
                 "softmax weights are positive and sum to 1 over K at every position"),
        Question("rank_one", lambda: "b", "choice",
                 "what is a softmax over a single logit? (section 9)",
                 "softmax over one logit is 1 whatever the logit, so the one basis is used everywhere"),
        Question("flat_in_k", lambda: "b", "choice",
                 "which route builds the per-position kernels first and then runs one layer? (section 6)",
                 "the lc route mixes the bases into one kernel per position (cheap) and runs one LC layer"),
    ]


def _backward_passes():
    from .backend import xp

    from .ops import (combining_weights_backward, combining_weights_forward, lrlc2d_backward, lrlc2d_forward,
                      row_col_sum_backward)

    def dalpha_shape():
        x, bases, alpha = xp.zeros((2, 3, 6, 5)), xp.zeros((4, 5, 3, 3, 3)), xp.full((4, 4, 3), 0.25)
        y, cache = lrlc2d_forward(x, bases, alpha)
        return lrlc2d_backward(xp.ones(y.shape), cache)[2].shape

    def softmax_derivative():
        logits = xp.log(xp.array([0.25, 0.75])).reshape(2, 1, 1)     # alpha = (0.25, 0.75)
        _, cache = combining_weights_forward(logits, "softmax")
        dalpha = xp.array([1.0, 0.0]).reshape(2, 1, 1)              # picks row 1 of the Jacobian
        return float(combining_weights_backward(dalpha, cache)[0, 0, 0])

    def row_sum():
        drow, _ = row_col_sum_backward(xp.ones((2, 4, 3)), (True, True))
        return float(drow[0, 0])

    return [
        Question("dalpha_shape", dalpha_shape, "shape",
                 "a gradient has the shape of what it is the gradient of; shared alpha is (K, H_out, W_out)",
                 "alpha is shared by the batch, so dalpha sums over n and keeps (K, H_out, W_out) = (4, 6 - 3 + 1, 5 - 3 + 1)"),
        Question("softmax_derivative", softmax_derivative, "number",
                 "d alpha_k / d l_j = alpha_k (delta_kj - alpha_j) (section 4)",
                 "alpha_1 (1 - alpha_1) = 0.25 * 0.75", tolerance=1e-6),
        Question("row_sum", row_sum, "number",
                 "row_logits[k, i] feeds every column j of row i (section 5)",
                 "drow[k, i] = sum_j dlogits[k, i, j]: the 3 columns of a 4 x 3 map"),
        Question("bn_sum", lambda: 0, "number",
                 "the mean of the batch moves with every value of x: what does that do to dx? (section 8)",
                 "dx has the mean of dy taken out, so it sums to 0 over a channel's values"),
        Question("bn_eval", lambda: "a", "choice",
                 "in evaluation mode, do the statistics depend on x? (section 9)",
                 "the running statistics are constants, so batch norm is an affine map of x"),
    ]


def _input_dependent():
    from .backend import xp

    from .layers import InputDependentCombiningWeights, LowRankLocallyConnected2D
    from .ops import conv_output_size

    def alpha_shape():
        layer = LowRankLocallyConnected2D(1, 2, 3, 17, rank=3, combining="full", input_dependent=True)
        return layer.combining_weights(xp.zeros((5, 1, 17, 17), dtype=xp.float32)).shape

    return [
        Question("dilations", lambda: InputDependentCombiningWeights(1, 3, 13, 11).dilations, "shape",
                 "the dilations are taken from 1, 2, 4, 8 while the span 2r + 1 fits: r <= (min(H, W) - 1) // 2",
                 "(13 - 1) // 2 = 6 allows r = 1, 2 and 4, not 8"),
        Question("sample_at", lambda: 1 * (4 - 1) / (7 - 1), "number",
                 "with aligned corners, output row i samples input row i * (H - 1) / (H_out - 1) (section 1)",
                 "row 1 of 7 samples 1 * (4 - 1) / (7 - 1): halfway between input rows 0 and 1", tolerance=1e-6),
        Question("dilated_size", lambda: conv_output_size(17, 2 * 4 + 1, 1, 0), "number",
                 "a dilated 3x3 kernel spans 2r + 1 pixels; without padding the output loses 2r (section 2)",
                 "17 - 2*4"),
        Question("alpha_shape", alpha_shape, "shape",
                 "one map per example, per basis, per output position (section 4)",
                 "(N, K, H_out, W_out)"),
        Question("zero_out", lambda: "b", "choice",
                 "zero logits give alpha = 1/K everywhere: what is a layer that mixes its bases equally "
                 "at every position? (section 5)",
                 "equal weights everywhere: one kernel, the mean of the bases, used at every position"),
    ]


TOPICS = {
    "convolution": _convolution,
    "gradient_checking": _gradient_checking,
    "local_connectivity": _local_connectivity,
    "backward_passes": _backward_passes,
    "input_dependent": _input_dependent,
}


def questions(topic: str) -> list:
    """The questions of ``topic`` (one of ``TOPICS``), in order."""
    if topic not in TOPICS:
        raise ValueError(f"understanding: no questions on {topic!r}; the topics are {', '.join(TOPICS)}")
    return TOPICS[topic]()


# --------------------------------------------------------------------------- checking

def _judge(question, answer):
    """-> (status, what was wrong with the form of the answer, or "")."""
    if answer is None:
        return UNANSWERED, ""
    expected = question.expected()
    if question.kind == "number":
        if isinstance(answer, bool) or not isinstance(answer, (int, float)) and not hasattr(answer, "__float__"):
            return WRONG, f"expected a number, got {answer!r}"
        value = float(answer)
        close = math.isclose(value, float(expected), rel_tol=question.tolerance, abs_tol=1e-12)
        return (RIGHT if close else WRONG), ""
    if question.kind == "shape":
        try:
            shape = tuple(int(v) for v in answer)
        except (TypeError, ValueError):
            return WRONG, f"expected a shape, a tuple of whole numbers like (2, 3), got {answer!r}"
        return (RIGHT if shape == tuple(expected) else WRONG), ""
    if not isinstance(answer, str):
        return WRONG, f"expected the letter of a choice, like \"a\", got {answer!r}"
    return (RIGHT if answer.strip().lower().rstrip(")") == expected else WRONG), ""


def _sentence(text):
    """Capitalised, ending in a full stop (or the question mark it has)."""
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def judge(topic: str, answers: dict, log=print) -> dict:
    """Judge ``answers`` (question key -> your answer, None where not answered) to ``topic``'s questions.

    Logs one line per question (right and why, wrong and a hint, or not answered yet) and a
    summary; returns {key: "right" | "wrong" | "not answered yet"}.
    """
    asked = questions(topic)
    keys = [q.key for q in asked]
    unknown = [k for k in answers if k not in keys]
    missing = [k for k in keys if k not in answers]
    if unknown or missing:
        raise ValueError(f"understanding: the answers to {topic!r} should have the keys {', '.join(keys)}"
                         + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                         + (f"; missing: {', '.join(missing)}" if missing else ""))
    results = {}
    for number, question in enumerate(asked, start=1):
        status, form = _judge(question, answers[question.key])
        results[question.key] = status
        if status == RIGHT:
            log(f"{number}. {question.key}: right. {_sentence(question.why)}")
        elif status == WRONG:
            log(f"{number}. {question.key}: not {answers[question.key]!r}. " + (_sentence(form) + " " if form else "")
                + f"Hint: {_sentence(question.hint)}")
        else:
            log(f"{number}. {question.key}: not answered yet.")
    right = sum(s == RIGHT for s in results.values())
    waiting = sum(s == UNANSWERED for s in results.values())
    summary = f"{right} of {len(asked)} right"
    if waiting:
        summary += f"; replace the None of the {waiting} unanswered in `answers` and run this cell again"
    log(summary + ".")
    return results


def check(topic: str, answers: dict) -> None:
    """What a tutorial's checking cell calls: print the verdict on each answer (see ``judge``)."""
    judge(topic, answers)


def right_answers(topic: str) -> dict:
    """The right answers (for tests, and for a teacher preparing a class)."""
    return {q.key: q.expected() for q in questions(topic)}
