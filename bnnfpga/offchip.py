"""Off-chip (DRAM) weights: the weight image a DMA streams to a layer, and its traffic.

A compute layer whose folding says ``weights="dram"`` (:class:`bnnfpga.folding.LayerFold`)
has no weight ROM: its weights stream in on an AXI4-Stream port, one weight word per
beat, in the order the MVTU consumes them (word ``nf * SF + sf``; PE p's SIMD bits at
``[p*SIMD +: SIMD]``, the same words as the on-chip ROM; a layer with WB-bit fixed-point
weights, ``weight_bits = WB > 1``, has PE p's SIMD lanes at ``[p*SIMD*WB +: SIMD*WB]``,
lane s at ``[s*WB +: WB]`` in two's complement, as bnn_mvtu_fw's ROM), and each word is applied to a
batch of up to ``batch`` frames (a convolution: ``batch`` output pixels, see below).  A beat is the weight word rounded up to whole bytes
(zero padding above); the DRAM buffer holds the beats back to back, little-endian.
Per run of N frames the DMA streams the buffer ``ceil(N / batch)`` times (the last
batch of a run holds the frames left).  See docs/offchip-weights.md.

Convolutions: the unit works on *vectors*; a dense layer has one per frame, a convolution
one per output pixel (its K*K*C_in-bit window), OH*OW per frame.  A batch is ``batch``
consecutive vectors (a group of output pixels, which may span a frame boundary), so a run
of N frames needs ``ceil(N * OH*OW / batch)`` passes and a frame reads
``bytes_per_pass * OH*OW / batch`` bytes.
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np

from .folding import LayerFold
from .ir import weight_bits

DRAM = "dram"
ONCHIP = "onchip"


def is_dram(f: LayerFold) -> bool:
    return getattr(f, "weights", ONCHIP) == DRAM


def dram_layers(net, folding: Dict[str, LayerFold]) -> List:
    """The compute layers whose weights stream from DRAM, in network order."""
    return [l for l in net.compute_layers() if is_dram(folding[l.name])]


def beat_bits(pe: int, simd: int, wb: int = 1) -> int:
    """Width of a weight beat: PE*SIMD*WB bits (WB bits per weight) rounded up to whole bytes."""
    return -(-pe * simd * wb // 8) * 8


def layer_beat_bits(layer, f: LayerFold) -> int:
    """The beat width of a layer's weight stream (its weight_bits per lane)."""
    return beat_bits(f.pe, f.simd, weight_bits(layer))


def words_per_pass(layer, f: LayerFold) -> int:
    return (layer.fan_in // f.simd) * (layer.out_channels // f.pe)


def bytes_per_pass(layer, f: LayerFold) -> int:
    """Bytes the DMA reads for one pass over the layer's weights (one batch)."""
    return words_per_pass(layer, f) * layer_beat_bits(layer, f) // 8


def vectors_per_frame(net, layer) -> int:
    """Input vectors the layer's MVTU handles per frame: 1 for a dense layer, OH*OW (one
    window per output pixel) for a convolution."""
    from .ir import Conv2D, infer_shapes

    if not isinstance(layer, Conv2D):
        return 1
    for l, (_, oshape) in zip(net.layers, infer_shapes(net)):
        if l is layer or l.name == layer.name:
            return int(oshape[0]) * int(oshape[1])
    raise ValueError(f"layer '{layer.name}' is not in network '{net.name}'")


def dram_bytes_per_frame(layer, f: LayerFold, net=None) -> float:
    """DRAM bytes per frame in steady state (a pass serves ``batch`` vectors: frames of a
    dense layer, output pixels of a convolution, whose OH*OW needs ``net``)."""
    from .ir import Conv2D

    if isinstance(layer, Conv2D):
        if net is None:
            raise ValueError(f"layer '{layer.name}': the DRAM traffic of a convolution needs its network (OH*OW)")
        return bytes_per_pass(layer, f) * vectors_per_frame(net, layer) / f.batch
    return bytes_per_pass(layer, f) / f.batch


def passes(num_frames: int, batch: int, vectors: int = 1) -> int:
    """Passes over the weights a run of num_frames frames needs (``vectors`` per frame:
    OH*OW for a convolution)."""
    return -(-int(num_frames) * int(vectors) // int(batch))


def weight_matrix(layer, f: LayerFold) -> np.ndarray:
    """(NF*SF, PE*SIMD*WB) uint8 bits: row nf*SF + sf, PE p's SIMD lanes at columns
    [p*SIMD*WB, (p+1)*SIMD*WB), lane s's WB two's complement bits LSB first (WB = 1: the weight bit)."""
    nf, sf = layer.out_channels // f.pe, layer.fan_in // f.simd
    wb = weight_bits(layer)
    w = np.asarray(layer.weights, dtype=np.int64 if wb > 1 else np.uint8)
    w = w.reshape(nf, f.pe, sf, f.simd).transpose(0, 2, 1, 3).reshape(nf * sf, f.pe * f.simd)
    if wb == 1:
        return w.astype(np.uint8)
    u = w & ((1 << wb) - 1)
    bits = (u[:, :, None] >> np.arange(wb, dtype=np.int64)) & 1
    return bits.reshape(nf * sf, f.pe * f.simd * wb).astype(np.uint8)


def dram_image(layer, f: LayerFold) -> bytes:
    """The layer's DRAM weight buffer: the beats of one pass, back to back, little-endian."""
    m = weight_matrix(layer, f)
    bb = layer_beat_bits(layer, f)
    if bb > m.shape[1]:
        m = np.concatenate([m, np.zeros((m.shape[0], bb - m.shape[1]), np.uint8)], axis=1)
    return np.packbits(m, axis=1, bitorder="little").tobytes()


def weights_from_image(image: bytes, layer, f: LayerFold) -> np.ndarray:
    """Inverse of :func:`dram_image`: the (out, fan_in) weight bits (uint8), or for a layer with
    WB-bit weights the signed integers (int16)."""
    nf, sf = layer.out_channels // f.pe, layer.fan_in // f.simd
    wb = weight_bits(layer)
    bb = layer_beat_bits(layer, f)
    rows = np.unpackbits(np.frombuffer(image, np.uint8).reshape(nf * sf, bb // 8), axis=1, bitorder="little")
    m = rows[:, : f.pe * f.simd * wb]
    if wb > 1:
        lanes = m.reshape(nf * sf, f.pe * f.simd, wb).astype(np.int64)
        v = (lanes << np.arange(wb, dtype=np.int64)).sum(axis=-1)
        m = np.where(v >= (1 << (wb - 1)), v - (1 << wb), v).astype(np.int16)
    return m.reshape(nf, sf, f.pe, f.simd).transpose(0, 2, 1, 3).reshape(layer.out_channels, layer.fan_in)


# ---------------------------------------------------------------- resources and bandwidth

# Batch sizes the optimizer tries for a layer with weights in DRAM.
BATCHES = (1, 2, 4, 8, 16, 32, 64)
# Share of a board's nominal DRAM peak the optimizer lets the accelerator use (refresh,
# page misses, read/write turnarounds, the CPU and the image/score DMA share the rest).
DRAM_MARGIN = 0.70
# HP (high-performance) AXI ports of the PS the weight DMAs can spread over.
HP_PORTS = 4
# One AXI DMA (MM2S only, simple mode, no scatter-gather) per off-chip layer, outside the
# generated RTL: Xilinx PG021 resource tables put such a DMA at roughly 1,000 LUT,
# 1,500 FF and a FIFO of one RAMB36.  An estimate, not a synthesis result.
DMA_LUT, DMA_FF, DMA_BRAM36 = 1000.0, 1500.0, 1.0
# LUTs per accumulator bit per batch above 8 (the read multiplexer of B accumulators, see dram_mvtu_resources)
ACC_MUX_LUT = 0.45


def dram_params(f: LayerFold) -> Dict[str, int]:
    """Extra stage parameters of an off-chip MVTU (merged into the resource model's MVTU params)."""
    return {"DRAM": 1, "B": int(f.batch)} if is_dram(f) else {}


def dram_mvtu_memories(p: Dict[str, int]):
    """Memories of bnn_mvtu_dram: no weight ROM; two banks of B input vectors and of B
    output vectors; the threshold ROM as on chip."""
    from .resources import place_ram, place_rom

    pe, simd, sf, nf, b = p["PE"], p["SIMD"], p["SF"], p["NF"], p["B"]
    obw = 32 if p["SCORES"] else 1
    mems = [place_ram("input batches", 2 * b * sf, simd * p["EW"], sync_read=True),
            place_ram("output batches", 2 * b * nf, pe * obw, sync_read=True)]
    if not p["SCORES"]:
        mems.append(place_rom("thresholds", nf, pe * (p["AW"] + 1)))
    return mems


def dram_mvtu_resources(model, p: Dict[str, int]):
    """(Resources, memories) of an off-chip MVTU plus its weight DMA.  Logic: the on-chip
    MVTU's calibrated features with B accumulators per PE (uncalibrated for this unit)."""
    from .resources import Resources, mvtu_features

    mems = dram_mvtu_memories(p)
    feats = mvtu_features(p, mems)
    feats["pe_acc"] = float(p["PE"] * p["AW"] * p["B"])
    feats["counters"] += 3 * float((p["B"] + 1).bit_length()) + 32  # batch counters, frames left
    wb = int(p.get("WB", 1))
    lanes = p["PE"] * p["SIMD"]
    lane_r = Resources()
    if wb > 1:  # WB-bit weight lanes: bnn_mvtu_fw's multiply (or add/subtract) lanes instead
        from .fixed_weights import DSP_PER_MUL_LANE, LUT_PER_ADDSUB_LANE_AW, LUT_PER_MUL_LANE_AW

        for k in ("lanes_bin", "lanes_fix", "lanes_fix_aw"):
            feats[k] = 0.0
        lane_r = (Resources(lut=LUT_PER_MUL_LANE_AW * lanes * p["AW"], dsp=DSP_PER_MUL_LANE * lanes) if p["FIXED"]
                  else Resources(lut=LUT_PER_ADDSUB_LANE_AW * lanes * p["AW"]))
    r = model._estimate("mvtu", feats, mems) + lane_r
    # the held weight word (wreg) and its multiplexer: checked against yosys synth_xilinx on
    # two binary units (benchmarks/bench_offchip.py: within 6% LUT and 4% FF); WB bits per lane
    r = r + Resources(lut=0.5 * lanes * wb, ff=float(lanes * wb))
    # the B-deep accumulator file's read multiplexer (acc[b][p]): yosys synth_xilinx grows by about
    # 0.45 LUT per accumulator bit per batch above 8 (benchmarks/bench_conv_dram.py, PE=16 AW=12 and
    # PE=4 AW=10 at B = 16..64: within 16% of yosys, was up to 70% under); nothing up to B = 8
    r = r + Resources(lut=ACC_MUX_LUT * p["PE"] * p["AW"] * max(0, p["B"] - 8))
    return r + Resources(lut=DMA_LUT, ff=DMA_FF, bram36=DMA_BRAM36), mems


def board_dram_bytes_per_cycle(board, clock_mhz: float, margin: float = DRAM_MARGIN) -> float:
    """DRAM bytes per accelerator clock cycle the optimizer may use on a board: the usable
    share of the nominal DRAM peak, capped by the HP ports' width (HP_PORTS x hp_port_bits
    per cycle)."""
    dram = board.dram_bytes_per_s * margin / (clock_mhz * 1e6)
    return min(dram, HP_PORTS * board.hp_port_bits / 8)


def io_bytes_per_frame(net, top_k: int = 1) -> int:
    """DRAM traffic of the image and score DMAs per frame (64-bit input beats, 32-bit output words)."""
    sp = net.input
    return -(-sp.height * sp.width * sp.channels // 8) * 8 + 4 * (net.num_classes + top_k)


def network_dram_bytes_per_frame(net, folding: Dict[str, LayerFold]) -> float:
    """Weight bytes read from DRAM per frame, all off-chip layers together."""
    return sum(dram_bytes_per_frame(l, folding[l.name], net) for l in dram_layers(net, folding))


# ---------------------------------------------------------------- a large test network

def cnv_dense_network(seed: int = 0, flat_hw: int = 8, dense=(4096, 4096), classes: int = 1000):
    """A CNV-like network with large dense layers (random weights and thresholds), built with
    the chain layer types only: input 3 x (8*flat_hw)^2, 'same' 3x3 convs 64-64-MP-128-128-MP-256-256-MP,
    then dense (flat_hw^2 * 256) -> 4096 -> 4096 -> classes.  With flat_hw = 8 the dense weights
    are 67.1 + 16.8 + 4.1 Mbit (11.0 MB), far more than a ZCU104's 312 BRAM36 hold."""
    from .ir import Conv2D, Dense, InputSpec, MaxPool2D, Network
    from .random_net import _thresholds

    rng = np.random.default_rng(seed)
    bits = lambda m, n: rng.integers(0, 2, (m, n), dtype=np.uint8)  # noqa: E731
    hw = flat_hw * 8
    layers, c = [], 3
    for i, (oc, pool) in enumerate([(64, False), (64, True), (128, False), (128, True), (256, False), (256, True)]):
        layers.append(Conv2D(f"conv{i}", c, oc, 3, "same", bits(oc, 9 * c), input_kind="fixed" if i == 0 else "binary"))
        c = oc
        if pool:
            layers.append(MaxPool2D(f"pool{i}", 2, 2))
    n = flat_hw * flat_hw * 256
    for i, m in enumerate(list(dense) + [classes]):
        layers.append(Dense(f"fc{i}" if i < len(dense) else "fc_out", n, m, bits(m, n)))
        n = m
    net = Network(f"cnv-dense{'-'.join(map(str, dense))}-{classes}", InputSpec(hw, hw, 3), layers,
                  classes=[str(i) for i in range(classes)])
    for layer in net.compute_layers()[:-1]:
        layer.thresholds = _thresholds(rng, net, layer)
    return net.validate()


def dram_weight_note(layer, f: LayerFold, net=None) -> str:
    """'  weights in DRAM, batch B, N bytes/frame' for an off-chip layer, '' otherwise."""
    if not is_dram(f):
        return ""
    unit = " pixels" if getattr(layer, "kind", "") == "conv" else ""
    return f"  weights in DRAM, batch {f.batch}{unit}, {dram_bytes_per_frame(layer, f, net):,.0f} bytes/frame"


# ---------------------------------------------------------------- overlay metadata

def weight_ports(net) -> Dict[str, str]:
    """{layer: weight-stream port prefix} as the RTL backend names them (s_axis_w_<module>)."""
    from .ir import MaxPool2D, sanitize_identifier

    used: set = set()
    out = {}
    for layer in net.layers:  # the same walk as rtl.backend.plan: max-pools take names too
        name = sanitize_identifier(layer.name, used)
        if not isinstance(layer, MaxPool2D):
            out[layer.name] = f"s_axis_w_layer_{name}"
    return out


def dram_meta(net, folding: Dict[str, LayerFold]) -> Dict[str, dict]:
    """The overlay metadata's "dram_weights": per off-chip layer, the DMA IP that feeds its
    weight port (axi_dma_w<i>), the port, the batch size and the bytes of one pass; a
    convolution adds "vectors_per_frame" (OH*OW: a run of N frames takes
    ceil(N * OH*OW / batch) passes)."""
    ports = weight_ports(net)
    out = {}
    for i, layer in enumerate(dram_layers(net, folding)):
        f = folding[layer.name]
        out[layer.name] = {"ip": f"axi_dma_w{i}", "port": ports[layer.name], "batch": int(f.batch),
                           "bytes_per_pass": bytes_per_pass(layer, f), "beat_bits": layer_beat_bits(layer, f)}
        v = vectors_per_frame(net, layer)
        if v != 1:  # a convolution (dense entries keep their keys)
            out[layer.name]["vectors_per_frame"] = v
    return out
