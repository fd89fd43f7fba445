"""Strided convolutions and max-pools with kernel != stride: the shared helpers of
the backends (HLS plan, RTL plan, resource model).

A stride-1 convolution and a K == S max-pool keep their original stages
(``bnn_swg`` / ``bnn_maxpool``), so designs of networks without strides stay
byte-identical; the stages here are used only when a layer needs them:

* ``bnn_swg_stride`` (RTL) / ``bnn_swg_stride`` (HLS, ``hls_templates/bnn_strided.h``):
  the sliding-window generator with a stride S.
* ``bnn_maxpool_win`` (RTL) / ``bnn_maxpool_win`` (HLS): max-pool with K x K windows
  every S pixels (overlapping when K > S).

Shapes and semantics: ``bnnfpga.ir`` (module docstring, "Strides").
"""
from __future__ import annotations

from .ir import Conv2D, MaxPool2D, Network

RTL_MODULES = {"swg": "bnn_swg_stride.sv", "maxpool": "bnn_maxpool_win.sv"}
HLS_HEADER = "bnn_strided.h"


def is_strided_conv(layer) -> bool:
    return isinstance(layer, Conv2D) and int(layer.stride) != 1


def is_window_pool(layer) -> bool:
    """A max-pool whose kernel differs from its stride (overlapping or sparse windows)."""
    return isinstance(layer, MaxPool2D) and int(layer.kernel) != int(layer.stride)


def uses(net: Network) -> set:
    """Which of the new stages the network needs: a subset of {'swg', 'maxpool'}."""
    out = set()
    for layer in net.layers:
        if is_strided_conv(layer):
            out.add("swg")
        if is_window_pool(layer):
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
