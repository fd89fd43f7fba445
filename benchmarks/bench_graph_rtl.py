"""Shortcut networks in the RTL backend: a binary ResNet and a binary DenseNet of roughly CNV's size next
to CNV itself, all on CIFAR-10-shaped input (3x32x32), folded for one common cycles-per-frame target.

Three parts (each can be skipped):

1. **Table** (``--models cnv,resnet,densenet``): weight bits, accuracy (golden model on the test set,
   after ``--epochs`` of training on ``--device``; 0 epochs: untrained, accuracy not reported),
   torch == golden, analytical cycles per frame of the RTL design, measured cycles per frame
   (Verilator, ``--frames`` frames, bit-exact check), LUT/BRAM (yosys ``synth_xilinx`` with
   ``--yosys``, else the resource model: bnnfpga.graph_resources), the per-stage yosys figure
   (``--yosys-per-stage``: each distinct stage synthesised once and summed, bnnfpga.rtl.stage_yosys;
   for designs too big for one yosys run), shortcut FIFO bits and all FIFO bits of the RTL design.
2. **FIFO proof** (``--proof``): an 8x8x8 ResNet block at three foldings: the formula's shortcut
   depth, the smallest depth that completes / keeps the rate in bnnfpga.fifo_depth.simulate of the
   RTL programs, and RTL co-simulation at the formula's depth and at a quarter of it.
3. **Back-pressure** (``--back-pressure N``): a tiny ResNet and DenseNet trained for one epoch on
   600 Fashion-MNIST images (digits when absent); N frames with random source gaps (30%) and sink
   back-pressure (40%) must come out complete and bit-exact; cycles per frame without back-pressure
   (measured vs analytical) and with it.

    python benchmarks/bench_graph_rtl.py [--epochs 0] [--device cpu] [--yosys] [--yosys-per-stage] [--frames 4] [--proof]
        [--back-pressure 200] [--data-root ../shared/data]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bnnfpga import export, fifo_depth, golden, zoo  # noqa: E402
from bnnfpga import folding as fo  # noqa: E402
from bnnfpga.folding import LayerFold  # noqa: E402
from bnnfpga.rtl import backend, cosim, graph, yosys  # noqa: E402

MODELS = {
    "cnv": ("cnv", dict(t_clip=0.5)),
    "resnet": ("binary_resnet", dict(stages=[2, 2, 2], base=48, t_clip=0.5)),
    "densenet": ("binary_densenet", dict(layers_per_unit=[4, 4, 4], growth=48, reduction=2.0, t_clip=0.5)),
}


def weight_bits(net):
    return int(sum(l.weights.size for l in net.compute_layers()))


def torch_scores(model, x):
    from bnnfpga.nn import binary_layers

    out = []
    with torch.no_grad():
        for s in range(0, len(x), 250):
            xb = export.images_to_tensor(x[s : s + 250])
            if hasattr(model, "scores"):
                out.append(model.scores(xb).numpy())
            else:
                model.set_record(True)
                model(xb)
                out.append(binary_layers(model)[-1].last_dot.numpy())
                model.set_record(False)
    return np.concatenate(out)


def fifo_bits(net, fold, files):
    """(shortcut FIFO bits, all FIFO bits) of an RTL design."""
    meta = json.loads(files["design.json"])
    if net.is_graph:
        return meta["shortcut_fifo_bits"], meta["fifo_bits"]
    stages, _, _ = backend.plan(net, fold)
    return 0, sum(s.in_w * s.fifo_depth for s in stages[1:])


def yosys_totals(files, out: Path, timeout: float):
    cache = out / "yosys_cache" / f"{backend.design_hash(files)}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    design = backend.write_design(files, out / "designs" / backend.design_hash(files))
    try:
        rep = yosys.estimate(design, timeout=timeout)
    except Exception as e:  # noqa: BLE001 - reported, not fatal
        return {"error": str(e)[:200]}
    res = {**rep["total"], "seconds": rep["seconds"]}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(res, indent=2) + "\n")
    return res


def yosys_per_stage(files, out: Path, a):
    """Per-stage yosys figure (bnnfpga.rtl.stage_yosys) of a design, its stages cached in --stage-cache."""
    from bnnfpga.rtl import stage_yosys

    design = out / "designs" / backend.design_hash(files)
    if not (design / "design.json").exists():
        backend.write_design(files, design)
    cache = Path(a.stage_cache) if a.stage_cache else out / "stage_cache"
    try:
        rep = stage_yosys.estimate_per_stage(design, cache, jobs=a.yosys_jobs, timeout=a.yosys_timeout, log=sys.stdout)
    except Exception as e:  # noqa: BLE001 - reported, not fatal
        return {"error": str(e)[:200]}
    (design / "resources_per_stage.json").write_text(json.dumps(rep, indent=1, sort_keys=True) + "\n")
    return {**rep["total"], "seconds": rep["seconds"], "instances": rep["instances"], "distinct": rep["distinct"]}


def model_estimate(net, fold):
    from bnnfpga.resources import ResourceModel

    try:
        r = ResourceModel.load().total(net, fold)
    except Exception as e:  # noqa: BLE001
        return {"LUT": "-", "BRAM": "-", "error": str(e)[:100]}
    return {"LUT": int(round(r.lut)), "BRAM": round(r.bram36, 1), "FF": int(round(r.ff))}


def part_table(a, out: Path):
    from bnnfpga.data import load_dataset
    from bnnfpga.train import TrainConfig, train

    ds = None
    try:
        ds = load_dataset("cifar10", a.data_root)
        if a.swap_splits:  # train on test images 1000-9999, test on the 2,000 exact training images
            from bnnfpga.data import load_cifar10

            exact = load_cifar10(Path(a.data_root) / "cifar10", lossless=True)
            ds.x_train, ds.y_train, ds.x_test, ds.y_test = ds.x_test[1000:], ds.y_test[1000:], exact.x_train, exact.y_train
            print("--swap-splits: training on CIFAR-10 test images 1000-9999 (JPEG-passed), testing on the 2,000 "
                  "exact training images: not an official CIFAR-10 figure")
    except Exception as e:  # noqa: BLE001
        print(f"note: no CIFAR-10 ({str(e)[:120]}): random images, no accuracy")
    rows = []
    for key in a.models.split(","):
        arch, kw = MODELS[key]
        torch.manual_seed(0)
        model = zoo.build(arch, input_shape=[3, 32, 32], classes=10, **kw)
        train_s = 0.0
        if a.epochs > 0:
            if ds is None or ds.x_train is None or len(ds.x_train) == 0:
                raise SystemExit("--epochs > 0 needs the CIFAR-10 training set under --data-root")
            n = min(a.train_images, len(ds.x_train))
            cfg = TrainConfig(epochs=a.epochs, batch_size=a.batch, lr=3e-3, lr_end=3e-4, threads=a.threads,
                              device=a.device)
            t0 = time.time()
            train(model, ds.x_train[:n], ds.y_train[:n], cfg, progress=False)
            train_s = time.time() - t0
        model = model.cpu().eval()
        net = export.to_ir(model, (3, 32, 32), name=key)
        if ds is not None:
            x_test, y_test = ds.x_test, ds.y_test
        else:
            x_test = np.random.default_rng(0).integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
            y_test = None
        g = golden.GoldenModel(net).run(x_test[: a.check_images])
        exact = bool(np.array_equal(torch_scores(model, x_test[: a.check_images]), g))
        acc = None
        if a.epochs > 0 and y_test is not None:
            gl = golden.GoldenModel(net).run(x_test)
            acc = float((golden.predict_labels(gl) == y_test).mean())
        if a.board:
            from bnnfpga import optimizer

            t0 = time.time()
            fold = optimizer.optimize(net, a.board).folding
            print(f"[{key}] optimizer for {a.board}: {time.time() - t0:.0f} s", flush=True)
        else:
            fold = fo.for_target(net, a.target_cycles)
        t0 = time.time()
        files = backend.generate(net, fold)
        gen_s = time.time() - t0
        analytical = json.loads(files["design.json"])["analytical_cycles_per_frame"]
        sc_bits, all_bits = fifo_bits(net, fold, files)
        row = dict(model=key, arch=arch, weight_bits=weight_bits(net), layers=len(net.layers), train_s=round(train_s),
                   accuracy=acc, torch_eq_golden=exact, analytical=analytical, lanes=sum(f.pe * f.simd for f in fold.values()),
                   shortcut_fifo_bits=sc_bits, fifo_bits=all_bits, generate_s=round(gen_s, 1))
        if a.frames > 0:
            imgs = x_test[: a.frames]
            r = cosim.cosimulate(net, imgs, fold, files=files)
            row.update(measured=r.cycles_per_frame, rtl_exact=bool(np.array_equal(r.scores, g[: a.frames])),
                       build_s=round(r.build_seconds), sim_s=round(r.sim_seconds), latency=r.latency_cycles)
        if a.yosys:
            y = yosys_totals(files, out, a.yosys_timeout)
            row.update(yosys=y)
        if a.yosys_per_stage:
            row.update(yosys_per_stage=yosys_per_stage(files, out, a))
        row.update(model_est=model_estimate(net, fold))
        rows.append(row)
        print(json.dumps(row), flush=True)
        (out / "table.json").write_text(json.dumps(rows, indent=2) + "\n")
    how = f"optimizer.optimize(net, '{a.board}')" if a.board else f"fo.for_target(net, {a.target_cycles})"
    print(f"\nCIFAR-10 shape 3x32x32; folding {how}; epochs {a.epochs} on {a.device}; "
          f"torch==golden on {a.check_images} test images; RTL cosim on {a.frames} frames")
    print(f"{'model':9} {'weight bits':>11} {'layers':>6} {'accuracy':>8} {'torch==gold':>11} {'cycles (analyt.)':>16} "
          f"{'cycles (RTL)':>12} {'RTL==gold':>9} {'PExSIMD':>7} {'LUT':>8} {'BRAM36':>7} {'LUT/BRAM from':>13} "
          f"{'shortcut FIFO bits':>18} {'all FIFO bits':>13} {'per-stage LUT':>13} {'BRAM36':>7} {'model LUT':>9} {'BRAM36':>7}")
    for r in rows:
        y = r.get("yosys")
        ps = r.get("yosys_per_stage")
        has_ps = isinstance(ps, dict) and "LUT" in ps
        if isinstance(y, dict) and "LUT" in y:
            lut, bram, src = y["LUT"], y["BRAM"], "yosys"
        elif has_ps:
            lut, bram, src = ps["LUT"], ps["BRAM"], "yosys/stage"
        else:
            lut, bram, src = r["model_est"]["LUT"], r["model_est"]["BRAM"], "model"
        acc = "-" if r["accuracy"] is None else f"{100 * r['accuracy']:.2f}%"
        print(f"{r['model']:9} {r['weight_bits']:>11} {r['layers']:>6} {acc:>8} {str(r['torch_eq_golden']):>11} "
              f"{r['analytical']:>16} {str(r.get('measured', '-')):>12} {str(r.get('rtl_exact', '-')):>9} {r['lanes']:>7} "
              f"{lut:>8} {bram:>7} {src:>13} {r['shortcut_fifo_bits']:>18} {r['fifo_bits']:>13} "
              f"{ps['LUT'] if has_ps else '-':>13} {ps['BRAM'] if has_ps else '-':>7} {r['model_est']['LUT']:>9} "
              f"{r['model_est']['BRAM']:>7}")


def resnet_block(h=8, c=8):
    from bnnfpga.ir import Add, Conv2D, Dense, InputSpec, Network, Threshold, Thresholds

    rng = np.random.default_rng(0)
    th = lambda n: Thresholds(np.zeros(n, np.int64), np.ones(n, np.int8))  # noqa: E731
    layers = [Conv2D("stem", 1, c, 3, "same", rng.integers(0, 2, (c, 9), dtype=np.uint8), input_kind="fixed"),
              Threshold("b_in", c, th(c)),
              Conv2D("conv1", c, c, 3, "same", rng.integers(0, 2, (c, 9 * c), dtype=np.uint8), thresholds=th(c)),
              Conv2D("conv2", c, c, 3, "same", rng.integers(0, 2, (c, 9 * c), dtype=np.uint8)),
              Add("add", ["stem", "conv2"], [0, 7]),
              Threshold("head", c, th(c)),
              Dense("fc", h * h * c, 10, rng.integers(0, 2, (10, h * h * c), dtype=np.uint8))]
    return Network("block", InputSpec(h, h, 1), layers).validate()


def part_proof(a):
    from bnnfpga import random_net as rn

    net = resnet_block()
    imgs = rn.random_images(np.random.default_rng(4), net, 6)
    rows = []
    for pe, simd in [(1, 8), (8, 8), (2, 4)]:
        fold = {l.name: LayerFold(pe, simd) for l in net.compute_layers()}
        fold["stem"], fold["fc"] = LayerFold(pe, 1), LayerFold(2, 8)
        pl = graph.plan_graph(net, fold)
        s = max((x for x in pl.streams if x.role.startswith("join")), key=lambda x: x.depth)
        depths = dict(pl.schedule.depths)
        for p in pl.procs:  # the modules' internal registers (delay stages) are not FIFOs
            for o in p.outs:
                if "~" in o:
                    depths[o] = 1 << 30
        for x in pl.streams:
            depths[f"s{x.sid}"] = x.depth
        name = f"s{s.sid}"
        live = fifo_depth.min_depth(pl.procs, depths, name, frames=4, hi=s.depth)
        rate = fifo_depth.min_depth(pl.procs, depths, name, frames=4, want_period=pl.cycles, hi=s.depth)
        res = {}
        for label, d in (("formula", s.depth), ("quarter", s.depth // 4), ("model live - 1", live - 1)):
            if d < 1:
                res[label] = "-"
                continue
            files = graph.generate_graph(net, fold, fifo_depths={s.sid: d})
            try:
                r = cosim.cosimulate(net, imgs, fold, files=files)
                ok = np.array_equal(r.scores, golden.GoldenModel(net).run(imgs))
                res[label] = f"{r.cycles_per_frame:g}" + ("" if ok else " WRONG")
            except cosim.CosimError:
                res[label] = "deadlock"
        rows.append((pe, simd, pl.cycles, s.depth, live, rate, res))
        print(rows[-1], flush=True)
    print("\nShortcut FIFO of an 8x8x8 ResNet block (stem -> [3x3 conv, 3x3 conv] + identity), RTL:")
    print(f"{'PE,SIMD':8} {'P cycles/frame':>14} {'formula depth':>13} {'model: smallest live':>20} "
          f"{'model: smallest at P':>20} {'RTL @ formula':>13} {'RTL @ formula/4':>15} {'RTL @ live-1':>12}")
    for pe, simd, P, d, live, rate, res in rows:
        print(f"{f'{pe},{simd}':8} {P:>14} {d:>13} {live:>20} {rate:>20} {res['formula']:>13} {res['quarter']:>15} "
              f"{res['model live - 1']:>12}")


def part_back_pressure(a):
    from bnnfpga import data
    from bnnfpga.train import TrainConfig, train

    try:
        ds = data.load_dataset("fashion-mnist", a.data_root)
    except Exception:  # noqa: BLE001
        ds = data.load_dataset("digits")
    h, w, c = ds.image_shape
    print(f"\n{a.back_pressure} frames with 30% source gaps and 40% sink back-pressure (tiny models, 600 training images, 1 epoch)")
    print(f"{'model':12} {'layers':>6} {'P (analytical)':>14} {'measured, no pressure':>21} {'measured, pressure':>18} "
          f"{'frames out':>10} {'bit-exact':>9} {'shortcut FIFO bits':>18}")
    for kind in ("resnet", "densenet"):
        torch.manual_seed(0)
        if kind == "resnet":
            model = zoo.build("binary_resnet", input_shape=[c, h, w], stages=[1, 1], base=4, classes=ds.num_classes)
        else:
            model = zoo.build("binary_densenet", input_shape=[c, h, w], layers_per_unit=[2, 2], growth=3,
                              classes=ds.num_classes)
        n = min(600, len(ds.x_train))
        train(model, ds.x_train[:n], ds.y_train[:n], TrainConfig(epochs=1, batch_size=50, val_fraction=0.2, threads=1),
              progress=False)
        net = export.to_ir(model.eval(), (c, h, w), name=f"tiny_{kind}")
        fold = fo.for_target(net, 7056)  # the 28x28 stem's window generator: 7056 words per frame at least
        imgs = ds.x_test[: a.back_pressure]
        gold = golden.GoldenModel(net).run(imgs)
        r0 = cosim.cosimulate(net, imgs[:12], fold, top_k=3)
        r1 = cosim.cosimulate(net, imgs, fold, top_k=3, source_pause=0.3, sink_pause=0.4, seed=7)
        exact = bool(np.array_equal(r1.scores, gold)) and bool(np.array_equal(r0.scores, gold[:12]))
        pl = graph.plan_graph(net, fold)
        print(f"{net.name:12} {len(net.layers):>6} {r0.analytical_cycles:>14} {r0.cycles_per_frame:>21} "
              f"{cosim.steady_cycles(r1.t_end):>18.1f} {len(r1.scores):>10} {str(exact):>9} {pl.shortcut_fifo_bits:>18}",
              flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=os.environ.get("BNNFPGA_DATA", str(REPO.parent / "shared" / "data")))
    p.add_argument("--models", default="cnv,resnet,densenet")
    p.add_argument("--epochs", type=int, default=0, help="training epochs (0: untrained, no accuracy)")
    p.add_argument("--device", default="cpu", help="torch device for training (cpu, cuda, ...)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--train-images", type=int, default=50000)
    p.add_argument("--swap-splits", action="store_true",
                   help="where only the CIFAR-10 test set is complete: train on test images 1000-9999 and test on the "
                        "2,000 exact training images (bench_filter_repetition.py does the same)")
    p.add_argument("--check-images", type=int, default=200, help="test images for torch == golden")
    p.add_argument("--target-cycles", type=int, default=32768, help="cycles per frame (BNN-PYNQ CNV's)")
    p.add_argument("--board", default=None, help="fold with the optimizer for this board (fastest that fits) instead")
    p.add_argument("--frames", type=int, default=0, help="frames to co-simulate per model (0: no RTL simulation)")
    p.add_argument("--yosys", action="store_true", help="yosys LUT/BRAM (many minutes per CNV-size design)")
    p.add_argument("--yosys-timeout", type=float, default=5400)
    p.add_argument("--yosys-per-stage", action="store_true",
                   help="per-stage yosys figure: each distinct stage synthesised once (cached), summed")
    p.add_argument("--stage-cache", default=None, help="stage cache folder for --yosys-per-stage (default OUT/stage_cache)")
    p.add_argument("--yosys-jobs", type=int, default=1, help="yosys processes at once for --yosys-per-stage")
    p.add_argument("--proof", action="store_true", help="the shortcut FIFO depth proof (RTL simulations)")
    p.add_argument("--back-pressure", type=int, default=0, help="frames for the back-pressure part (0: skip)")
    p.add_argument("--no-table", action="store_true")
    p.add_argument("--out", default=str(REPO / "runs" / "bench_graph_rtl"))
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if not a.no_table:
        part_table(a, out)
    if a.proof:
        part_proof(a)
    if a.back_pressure:
        part_back_pressure(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
