"""HLS side of off-chip weights (docs/offchip-weights.md): a dense layer whose folding says
weights="dram" reads its weight words from an ``hls::stream<ap_uint<WB> >`` argument of
``bnn_top`` (``w_<layer id>``, an AXI4-Stream port fed by a DMA) instead of a ROM;
``hls_templates/bnn_dram.h`` holds the units.  The test bench feeds the stream from the
layer's parameter table, ceil(frames / batch) passes per run.  A convolution (``pix`` = OH*OW
output pixels per frame) calls the unit with ``frames * pix`` vectors: a batch is ``batch``
consecutive output pixels, and a run takes ceil(frames * pix / batch) passes."""
from __future__ import annotations

from ..ir import weight_bits
from ..fixed_weights import hls_wb_arg
from ..offchip import layer_beat_bits


def dram_call(pb, layer, f, cur: str, out: str, ident: str, last: bool, qb: int, runtime_params: bool,
              streams: list, pix: int = 1) -> str:
    """Mark the parameter block as off chip, register its weight stream, return the stage's call."""
    from .backend import BackendError

    if runtime_params:
        raise BackendError(f"layer '{layer.name}': weights='dram' cannot be combined with runtime_params "
                           "(DRAM weights are loaded by filling the DRAM buffer)")
    wb = layer_beat_bits(layer, f)
    fw = hls_wb_arg(layer)  # ', WB' for fixed-point weights (WB-bit lanes), '' for binary
    name = f"w_{ident}"
    pb.dram, pb.batch, pb.dram_beat_bits = True, int(f.batch), wb
    streams.append({"name": name, "bits": wb, "batch": int(f.batch), "id": ident, "pe": f.pe, "simd": f.simd,
                    "words": pb.tiles, "layer": layer.name,
                    "wwb": weight_bits(layer), "vectors": int(pix)})
    vec = "frames" if pix == 1 else f"(unsigned long long)frames * {pix}"  # a vector per output pixel
    if last:
        return (f"bnn_mvu_scores_dram<{f.simd}, {qb}, {f.pe}, {pb.sf}, {pb.nf}, {layer.fan_in}, {f.batch}, {wb}{fw}>"
                f"({cur}, {out}, {name}, {vec})")
    return (f"bnn_mvtu_dram<{f.simd}, {qb}, {f.pe}, {pb.sf}, {pb.nf}, {pb.abits}, {f.batch}, {wb}{fw}>"
            f"({cur}, {out}, {name}, {ident}_t, {ident}_neg, {vec})")
