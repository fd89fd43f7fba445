"""The HLS pipeline plan of a graph network (binary ResNet / DenseNet, see "Graphs" in bnnfpga.ir).

Stages, in the network's topological order:

* the input stage and, per compute layer, an optional width converter, a
  sliding-window generator (convolutions) and an MVTU (bits out), an MVU with an
  integer output (``bnn_mvu_int``) or the scores MVU (last layer), as in chains;
* ``bnn_threshold`` (integer stream -> bits), ``bnn_add`` (two integer
  streams, shifted), ``bnn_concat`` (bit streams, pixel by pixel; more than two
  inputs are concatenated pairwise), ``bnn_maxpool``;
* ``bnn_dup`` after every stream read by k > 1 layers (k - 1 duplicators in a
  chain), and width converters wherever a consumer needs another lane count:
  an add or concat works at the gcd of its inputs' lane counts.

Lanes: a compute layer's output has PE lanes; max-pool and threshold keep
their input's lanes; integer lanes are ``ir.range_bits`` of the stream's range
wide (the sum of an add cannot overflow).  Every FIFO's depth comes from
:func:`bnnfpga.fifo_depth.analyze` on the stages' cycle programs; FIFOs deeper
than 2 get ``#pragma HLS STREAM depth``: the formula's depth, plus
``HLS_SLACK`` words on the FIFOs that feed a join (add / concat) for the
latency of synthesized pipelines, which the one-cycle model leaves out.
The other deep FIFOs are *rate matching* (a producer that writes steadily
into a stage that reads in bursts, such as a sliding-window generator's rows).
"""
from __future__ import annotations

from math import gcd
from typing import Dict, List

import numpy as np

from .. import fifo_depth as fd
from .. import folding as fo
from ..folding import LayerFold
from .. import strided
from ..ir import Add, Concat, Conv2D, Dense, MaxPool2D, Network, Threshold, acc_bits, graph_shapes, range_bits, value_ranges
from .. import fixed_weights as fw
from .backend import (MAX_AP_WIDTH, BackendError, ParamBlock, Plan, Stage, _lut_pe_hook, _rows, _shape, input_cycles,
                      layer_idents, safe_text)

HLS_SLACK = 16  # words added to every deep FIFO's formula depth in the generated pragmas


def plan_graph(net: Network, folding: Dict[str, LayerFold], top_k: int = 1, runtime_params: bool = False) -> Plan:
    if runtime_params:
        raise BackendError("runtime_params is not supported for graph networks (shortcut networks) yet")
    classes = net.num_classes
    if not isinstance(top_k, int) or not (1 <= top_k <= classes):
        raise BackendError(f"top_k must be in [1, {classes}] (the number of classes), got {top_k!r}")
    g = graph_shapes(net)
    ranges = value_ranges(net, g)
    ids = layer_idents(net)
    sp = net.input
    qb = int(sp.bits)
    stages: List[Stage] = []
    params: List[ParamBlock] = []
    thr: List[dict] = []
    widths = [64]
    info: Dict[str, tuple] = {}  # stream -> (lanes, element bits)
    copies: Dict[str, List[str]] = {}
    counter = [0]

    def add_stage(stage: Stage, ins: List[str], outs: List[str], prog):
        stage.proc = fd.Proc(f"{len(stages)}:{stage.kind}:{stage.layer}", ins, outs, *prog)
        stages.append(stage)

    def convert(var: str, elems: int, want: int, lname: str) -> str:
        lanes, eb = info[var]
        if lanes == want:
            return var
        counter[0] += 1
        out = f"{var}_cv{counter[0]}"
        a, b, nb = lanes * eb, want * eb, elems * eb
        cyc = elems // lanes + elems // want
        widths.append(a + b)
        what = "bits" if eb == 1 else f"{eb}-bit integers"
        add_stage(Stage("convert", lname, f"width converter before '{safe_text(lname)}': {lanes} -> {want} lanes of {what}",
                        [f"{elems} values per frame; {elems // lanes} words in, {elems // want} words out: {cyc} cycles"],
                        f"bnn_convert<{a}, {b}, {nb}>({var}, {out}, frames)", out, f"ap_uint<{b}>", cyc, "", "",
                        f"{lanes}->{want}"), [var], [out], fd.prog_convert(a, b, nb))
        info[out] = (want, eb)
        return out

    in_bytes = sp.height * sp.width * sp.channels
    first = net.layers[0]
    s0 = folding[first.name].simd
    widths.append(s0 * qb)
    add_stage(Stage("input", "", "input: AXI4-Stream bytes -> q = p - zero_point",
                    [f"{in_bytes} bytes per frame ({_shape(sp.shape)}, HxWxC) in {-(-in_bytes // 8)} 64-bit beats",
                     f"q = p - {sp.zero_point}, {qb}-bit signed; {s0} lanes per word (first layer's SIMD); one beat in and one word out per cycle"],
                    f"bnn_input<{in_bytes}, {s0}, {qb}, {sp.zero_point}, axis_in_t>(s_axis, s_input, frames)",
                    "s_input", f"ap_uint<{s0 * qb}>", input_cycles(in_bytes, s0), _shape(sp.shape), "", str(s0)),
              [fd.SOURCE], ["s_input"], fd.prog_input(in_bytes, s0))
    info["s_input"] = (s0, qb)
    copies["@image"] = ["s_input"]

    for li, layer in enumerate(net.layers):
        name = layer.name
        ident = ids[name]
        lname = safe_text(name)
        ins = g.inputs[name]
        ishape, oshape = g.in_shapes[name][0], g.out_shapes[name]
        in_vars = [copies[n].pop(0) for n in ins]
        out = f"s{li}_{ident}"
        elems_out = int(np.prod(oshape))
        if isinstance(layer, (Dense, Conv2D)):
            f = folding[name]
            pe, simd = f.pe, f.simd
            var = convert(in_vars[0], int(np.prod(ishape)), simd, name)
            cur_qb = info[var][1]
            ww = simd * cur_qb
            pix = 1
            if isinstance(layer, Conv2D):
                h, w, c = ishape
                cf = c // simd
                k, pad = layer.kernel, layer.pad
                oh, ow = oshape[0], oshape[1]
                win = f"s{li}_{ident}_win"
                cyc = h * w * cf + oh * ow * k * k * cf
                add_stage(Stage("swg", name, f"sliding window of '{lname}': {k}x{k}, padding {layer.padding}",
                                [f"{_shape(ishape)} -> {oh}x{ow} windows of {k}x{k}x{c} in (ky, kx, c) order, {k * k * cf} words of {simd} lanes",
                                 f"pad {pad} ({'q = 0' if cur_qb > 1 else 'bit 0 = -1'}); line buffer of {k} rows; {cyc} cycles"],
                                f"bnn_swg<{k}, {h}, {w}, {cf}, {pad}, {ww}>({var}, {win}, frames)", win, f"ap_uint<{ww}>",
                                cyc, _shape(ishape), "", str(simd)), [var], [win], fd.prog_swg(k, h, w, cf, pad))
                if strided.is_strided_conv(layer):  # bnn_strided.h
                    st = layer.stride
                    stages[-1].call = f"bnn_swg_stride<{k}, {st}, {h}, {w}, {cf}, {pad}, {ww}>({var}, {win}, frames)"
                    stages[-1].proc = fd.Proc(stages[-1].proc.name, [var], [win], *strided.prog_swg_stride(k, st, h, w, cf, pad))
                info[win] = (simd, cur_qb)
                var = win
                pix = oh * ow
            sf, nf = layer.fan_in // simd, layer.out_channels // pe
            cyc = fo.layer_cycles(net, layer, f)
            kind = "conv" if isinstance(layer, Conv2D) else "dense"
            last = layer is net.layers[-1]
            int_out = layer.thresholds is None and not last
            ob = range_bits(*ranges[name]) if int_out else 0
            abits = acc_bits(net, layer) + 2
            params.append(ParamBlock(len(params), ident, name, kind, layer.out_channels, layer.fan_in, pe, simd, sf, nf,
                                     cur_qb, abits, layer.thresholds is not None, layer, int_out, ob))
            _lut_pe_hook(params[-1], layer, f, runtime_params)  # LayerFold.lut_pe: some PEs' weights in LUT ROM
            wstore = params[-1].wstore
            widths += [simd * fw.weight_bits(layer), ww, 32 * pe, ob * pe]
            com = [f"{kind} {_shape(ishape)} -> {_shape(oshape)}, fan-in {layer.fan_in}, "
                   + fw.weights_text(layer, cur_qb > 1),
                   f"PE = {pe}, SIMD = {simd}: SF = {sf} input folds x NF = {nf} neuron folds x {pix} pixels = {cyc} cycles"]
            if last:
                com.append(f"last layer: {pe} int32 scores per word")
                call = (f"bnn_mvu_scores<{simd}, {cur_qb}, {pe}, {sf}, {nf}, {layer.fan_in}{fw.hls_wb_arg(layer)}>"
                        f"({var}, {out}, {wstore}, frames)")
                otype, skind, oinfo = f"ap_uint<{32 * pe}>", "scores", (pe, 32)
            elif int_out:
                lo, hi = ranges[name]
                com.append(f"integer output: {pe} lanes of {ob} bits (range [{lo}, {hi}])")
                call = (f"bnn_mvu_int<{simd}, {cur_qb}, {pe}, {sf}, {nf}, {pix}, {layer.fan_in}, {ob}{fw.hls_wb_arg(layer)}>"
                        f"({var}, {out}, {wstore}, frames)")
                otype, skind, oinfo = f"ap_uint<{ob * pe}>", "mvu_int", (pe, ob)
            else:
                com.append(f"threshold on the last input fold ({abits}-bit accumulator); {pe} bits per word")
                call = (f"bnn_mvtu<{simd}, {cur_qb}, {pe}, {sf}, {nf}, {pix}, {abits}{fw.hls_wb_arg(layer)}>"
                        f"({var}, {out}, {wstore}, {ident}_t, {ident}_neg, frames)")
                otype, skind, oinfo = f"ap_uint<{pe}>", "mvtu", (pe, 1)
            add_stage(Stage(skind, name, f"{kind} '{lname}'", com, call, out, otype, cyc,
                            f"{_shape(ishape)}->{_shape(oshape)}", str(pe), str(simd)), [var], [out], fd.prog_mvu(sf, nf, pix))
            info[out] = oinfo
        elif isinstance(layer, MaxPool2D):
            var = in_vars[0]
            lanes = info[var][0]
            h, w, c = ishape
            cf = c // lanes
            add_stage(Stage("maxpool", name, f"max-pool '{lname}' {layer.kernel}x{layer.kernel}",
                            [f"{_shape(ishape)} -> {_shape(oshape)}; OR of each window's bits",
                             f"{cf} words of {lanes} channels per pixel; one word per cycle: {h * w * cf} cycles"],
                            f"bnn_maxpool<{layer.kernel}, {h}, {w}, {cf}, {lanes}>({var}, {out}, frames)",
                            out, f"ap_uint<{lanes}>", h * w * cf, f"{_shape(ishape)}->{_shape(oshape)}", "", ""),
                      [var], [out], fd.prog_maxpool(layer.kernel, h, w, cf) if not strided.is_window_pool(layer, ishape)
                      else strided.prog_maxpool_win(layer.kernel, layer.stride, h, w, cf))
            if strided.is_window_pool(layer, ishape):  # bnn_strided.h
                stages[-1].call = (f"bnn_maxpool_win<{layer.kernel}, {layer.stride}, {h}, {w}, {cf}, {lanes}>"
                                   f"({var}, {out}, frames)")
            info[out] = (lanes, 1)
        elif isinstance(layer, Threshold):
            var = in_vars[0]
            lanes, ib = info[var]
            c = layer.channels
            cf, pix = c // lanes, elems_out // c
            lo, hi = ranges[ins[0]]
            tb = range_bits(lo - 1, hi + 1)
            t = np.asarray(layer.thresholds.t, np.int64).reshape(cf, lanes).T
            neg = (np.asarray(layer.thresholds.direction) < 0).astype(np.int64).reshape(cf, lanes).T
            thr.append(dict(id=ident, header=f"thresholds_{ident}.h", comment=f"layer '{lname}'", channels=c, ib=ib,
                            lanes=lanes, cf=cf, tb=tb, t_rows=[_rows([str(int(v)) for v in t[i]]) for i in range(lanes)],
                            neg_rows=[_rows([str(int(v)) for v in neg[i]]) for i in range(lanes)]))
            n = pix * cf
            add_stage(Stage("threshold", name, f"threshold '{lname}' (BatchNorm + sign on an integer stream)",
                            [f"{_shape(ishape)}, {lanes} lanes of {ib} bits -> {lanes} bits per word; {n} cycles"],
                            f"bnn_threshold<{lanes}, {ib}, {cf}, {pix}, {tb}>({var}, {out}, {ident}_t, {ident}_neg, frames)",
                            out, f"ap_uint<{lanes}>", n, _shape(ishape), "", ""), [var], [out], fd.prog_map(n, 1, 1))
            info[out] = (lanes, 1)
        elif isinstance(layer, Add):
            lanes = gcd(info[in_vars[0]][0], info[in_vars[1]][0])
            a, b = (convert(v, elems_out, lanes, name) for v in in_vars)
            ia, ib = info[a][1], info[b][1]
            lo, hi = ranges[name]
            io = range_bits(lo, hi)
            sa, sb = (int(v) for v in layer.shifts)
            n = elems_out // lanes
            widths.append(lanes * max(ia, ib, io))
            add_stage(Stage("add", name, f"add '{lname}': ({safe_text(ins[0])} << {sa}) + ({safe_text(ins[1])} << {sb})",
                            [f"{_shape(oshape)}, {lanes} lanes of {ia} + {ib} -> {io} bits (range [{lo}, {hi}]); {n} cycles"],
                            f"bnn_add<{n}, {lanes}, {ia}, {ib}, {io}, {sa}, {sb}>({a}, {b}, {out}, frames)",
                            out, f"ap_uint<{lanes * io}>", n, _shape(oshape), "", ""), [a, b], [out], fd.prog_map(n, 2, 1))
            info[out] = (lanes, io)
        elif isinstance(layer, Concat):
            lanes = 0
            for v in in_vars:
                lanes = gcd(lanes, info[v][0])
            chans = [s[-1] for s in g.in_shapes[name]]
            pix = elems_out // oshape[-1]
            vs = [convert(v, pix * ch, lanes, name) for v, ch in zip(in_vars, chans)]
            cur, cur_c = vs[0], chans[0]
            for j, (v, ch) in enumerate(zip(vs[1:], chans[1:])):
                o = out if j == len(vs) - 2 else f"{out}_p{j}"
                n = pix * (cur_c + ch) // lanes
                add_stage(Stage("concat", name, f"concat '{lname}': {cur_c} + {ch} channels",
                                [f"per pixel {cur_c // lanes} words of the first input, then {ch // lanes} of the second, "
                                 f"{lanes} lanes; {n} cycles"],
                                f"bnn_concat<{pix}, {cur_c // lanes}, {ch // lanes}, {lanes}>({cur}, {v}, {o}, frames)",
                                o, f"ap_uint<{lanes}>", n, _shape(oshape), "", ""), [cur, v], [o],
                          fd.prog_concat(pix, cur_c // lanes, ch // lanes))
                info[o] = (lanes, 1)
                cur, cur_c = o, cur_c + ch
        else:
            raise BackendError(f"layer '{name}': {type(layer).__name__} is not supported by the HLS backend")
        readers = len(g.consumers.get(name, []))
        if readers > 1:
            lanes, eb = info[out]
            n = elems_out // lanes
            cps, cur = [], out
            for j in range(readers - 1):
                x = f"{out}_f{j}"
                y = f"{out}_f{readers - 1}" if j == readers - 2 else f"{out}_r{j}"
                st = Stage("dup", name, f"fork of '{lname}': {readers} readers",
                           [f"{n} words of {lanes * eb} bits per frame, each to both outputs; {n} cycles"],
                           f"bnn_dup<{n}, {lanes * eb}>({cur}, {x}, {y}, frames)", x, f"ap_uint<{lanes * eb}>", n,
                           _shape(oshape), "", "")
                st.extra_outs = [dict(name=y, type=f"ap_uint<{lanes * eb}>", depth=0)]
                add_stage(st, [cur], [x, y], fd.prog_map(n, 1, 2))
                info[x] = info[y] = (lanes, eb)
                cps.append(x)
                cur = y
            cps.append(cur)
            copies[name] = cps
        else:
            copies[name] = [out]

    last = net.layers[-1]
    pe_last = folding[last.name].pe
    cyc = classes // pe_last + classes + top_k
    var = copies[last.name].pop(0)
    add_stage(Stage("output", "", f"output: {classes} scores + top-{top_k} labels -> AXI4-Stream",
                    [f"{classes // pe_last} words of {pe_last} scores in; {classes + top_k} 32-bit words out, TLAST on the last",
                     "labels: score descending, ties to the lowest index"],
                    f"bnn_output<{classes}, {pe_last}, {top_k}, axis_out_t>({var}, m_axis, frames)",
                    None, None, cyc, str(classes), str(pe_last), ""), [var], [fd.SINK],
              fd.prog_output(classes // pe_last, classes + top_k))
    need = max(widths)
    if need > MAX_AP_WIDTH:
        raise BackendError(f"a stream or weight word of {need} bits exceeds ap_int's {MAX_AP_WIDTH}-bit limit: lower SIMD/PE")

    # FIFO depths (bnnfpga.fifo_depth): the formula on the stages' cycle programs
    sched = fd.analyze([s.proc for s in stages], frames=3)
    join_inputs = {}
    for s in stages:
        if s.kind in ("add", "concat"):
            for v in s.proc.ins:
                join_inputs[v] = s.layer
    fifos = []
    for s in stages:
        outs = ([dict(name=s.out, type=s.out_type, holder=s, extra=None)] if s.out else []) + \
               [dict(name=o["name"], type=o["type"], holder=s, extra=o) for o in s.extra_outs]
        for o in outs:
            d = sched.depths.get(o["name"], fd.DEFAULT_DEPTH)
            if d <= fd.DEFAULT_DEPTH:
                continue
            shortcut = o["name"] in join_inputs
            depth = d + HLS_SLACK if shortcut else d
            width = info[o["name"]][0] * info[o["name"]][1]
            if o["extra"] is None:
                s.depth = depth
            else:
                o["extra"]["depth"] = depth
            role = f"join input of '{safe_text(join_inputs[o['name']])}'" if shortcut else "rate matching"
            fifos.append(dict(stream=o["name"], width=width, formula=d, depth=depth, role=role, shortcut=shortcut))
    pl = Plan(net, folding, top_k, runtime_params, stages, params, max(1024, -(-need // 1024) * 1024),
              thresholds=thr, fifos=fifos, schedule=sched)
    return pl
