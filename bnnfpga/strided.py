"""Strided convolutions and max-pools with kernel != stride: the shared helpers of
the backends (HLS plan, RTL plan, resource model).

A stride-1 convolution and a K == S max-pool keep their original stages
(``bnn_swg`` / ``bnn_maxpool``), so designs of networks without strides stay
byte-identical; the stages here are used only when a layer needs them:

* ``bnn_swg_stride`` (RTL) / ``bnn_swg_stride`` (HLS, ``hls_templates/bnn_strided.h``):
  the sliding-window generator with a stride S.
* ``bnn_maxpool_win`` (RTL) / ``bnn_maxpool_win`` (HLS): max-pool with K x K windows
  every S pixels (overlapping when K > S), also for K == S when K does not divide the input.

Shapes and semantics: ``bnnfpga.ir`` (module docstring, "Strides").
"""
from __future__ import annotations

from .ir import Conv2D, MaxPool2D, Network, graph_shapes, infer_shapes

RTL_MODULES = {"swg": "bnn_swg_stride.sv", "maxpool": "bnn_maxpool_win.sv"}
HLS_HEADER = "bnn_strided.h"


def is_strided_conv(layer) -> bool:
    return isinstance(layer, Conv2D) and int(layer.stride) != 1


def is_window_pool(layer, in_shape) -> bool:
    """A max-pool whose kernel differs from its stride (overlapping or sparse windows), or whose
    kernel does not divide its input (the last rows/columns are dropped, as torch does)."""
    if not isinstance(layer, MaxPool2D):
        return False
    k, s = int(layer.kernel), int(layer.stride)
    return k != s or in_shape[0] % k != 0 or in_shape[1] % k != 0


def uses(net: Network) -> set:
    """Which of the new stages the network needs: a subset of {'swg', 'maxpool'}."""
    out = set()
    shapes = graph_shapes(net).in_shapes if net.is_graph else None
    for layer, (ishape, _) in zip(net.layers, infer_shapes(net)):
        if shapes is not None:
            ishape = shapes[layer.name][0]
        if is_strided_conv(layer):
            out.add("swg")
        if is_window_pool(layer, ishape):
            out.add("maxpool")
    return out


def swg_rows(k: int, s: int = 1) -> int:
    """Rows of the RTL line buffer (a power of two): >= 2K+1 as for stride 1, and >= K + 2S so that
    the writer can fill the next output row's S new rows while the reader emits the current one."""
    need = max(2 * k + 1, k + 2 * s)
    r = 1
    while r < need:
        r *= 2
    return r


def pool_out(n: int, k: int, s: int) -> int:
    return (n - k) // s + 1


def pool_slots(k: int, s: int) -> int:
    """Windows an input pixel lies in along one axis: ceil(K / S)."""
    return -(-k // s)


# ---------------------------------------------------------------- FIFO-depth programs (bnnfpga.fifo_depth)
def prog_swg_stride(k: int, s: int, h: int, w: int, cf: int, pad: int):
    """bnn_swg_stride (HLS): before output row oy, read input rows up to oy*S + K - 1 - PAD; then emit
    its windows; at the frame's end read the rows no window touched."""
    import numpy as np

    oh, ow = (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1
    rd, wr = [], []
    rows = 0

    def read(n):
        rd.append(np.ones(n * w * cf, bool))
        wr.append(np.zeros(n * w * cf, bool))

    for oy in range(oh):
        need = min(oy * s + k - 1 - pad, h - 1)
        if rows <= need:
            read(need + 1 - rows)
            rows = need + 1
        rd.append(np.zeros(ow * k * k * cf, bool))
        wr.append(np.ones(ow * k * k * cf, bool))
    if rows < h:
        read(h - rows)
    return np.concatenate(rd)[:, None], np.concatenate(wr)[:, None]


def prog_maxpool_win(k: int, s: int, h: int, w: int, cf: int):
    """bnn_maxpool_win (HLS): one input word per cycle; a word out when its window's last pixel arrives."""
    import numpy as np

    def closes(n):  # position i is the last of window j = (i - K + 1) / S
        j = np.arange(n) - (k - 1)
        return (j >= 0) & (j % s == 0) & (j // s < pool_out(n, k, s))

    ys, xs = closes(h), np.repeat(closes(w), cf)
    return np.ones((h * w * cf, 1), bool), (ys[:, None] & xs[None, :]).reshape(-1, 1)


# ---------------------------------------------------------------- resource estimate
def window_pool_estimate(p) -> tuple:
    """(LUT, FF) of bnn_maxpool_win with parameters C, W, K, S: a fit on yosys 0.23 synth_xilinx
    of eight configurations (C 8..128, W 13..112, K/S 3/2, 3/1, 2/3, 2/2; within about 20%):
    the horizontal pass's P = ceil(K/S) partial ORs and the P distributed-RAM rows of OW words."""
    c, k, s = p["C"], p["K"], p["S"]
    pp, ow = pool_slots(k, s), pool_out(p["W"], k, s)
    lut = 40 + c * (7 * pp - 4) + 1.6 * c * pp * (-(-ow // 32) - 1)
    ff = 25 + c * (pp + 1)
    return float(lut), float(ff)
