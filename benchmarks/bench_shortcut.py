"""Shortcut networks next to a plain chain of similar size: a binary ResNet and a binary DenseNet
(bnnfpga.zoo.binary_resnet / binary_densenet, t_clip 0.5) and a BinaryNet-style chain ConvNet
(zoo.small_cnn), trained the same way on Fashion-MNIST (60,000 training images, 28x28), then
exported (exact threshold folding), checked torch == golden on every score of the 10,000 test
images, and laid out by the HLS backend at one common cycles-per-frame target: cycles per
frame, PE x SIMD lanes, shortcut FIFO bits (the analytical depths of bnnfpga.fifo_depth) and a
cycle-accurate simulation of the FIFO-sized pipeline (bounded FIFOs, back-pressure).

    python benchmarks/bench_shortcut.py --data-root ../shared/data [--epochs 2] [--threads 2] [--device cuda] [--csim]

Caveats printed with the table: few epochs on 2 shared CPU cores are far from converged
accuracies; no synthesis here (no LUT/BRAM figures: those need the RTL backend's yosys flow).
"""
import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bnnfpga import export, fifo_depth, golden, modelfile, zoo  # noqa: E402
from bnnfpga import folding as fo  # noqa: E402
from bnnfpga.data import load_dataset  # noqa: E402
from bnnfpga.hls import backend  # noqa: E402
from bnnfpga.nn import binary_layers  # noqa: E402
from bnnfpga.train import TrainConfig, train  # noqa: E402

MODELS = {
    "chain": ("small_cnn", dict(channels=[32, 32, "M", 64, 64, "M"], fc=[128], padding="same", t_clip=0.5)),
    "resnet": ("binary_resnet", dict(stages=[2, 2, 2], base=16, t_clip=0.5)),
    "densenet": ("binary_densenet", dict(layers_per_unit=[4, 4, 4], growth=16, reduction=2.0, t_clip=0.5)),
}


def weight_bits(net):
    return int(sum(l.weights.size for l in net.compute_layers()))


def scores_torch(model, x):
    out = []
    with torch.no_grad():
        for s in range(0, len(x), 500):
            xb = export.images_to_tensor(x[s : s + 500])
            if hasattr(model, "scores"):
                out.append(model.scores(xb).numpy())
            else:
                model.set_record(True)  # the chain: its last layer's integer dot product (as export.torch_trace)
                model(xb)
                out.append(binary_layers(model)[-1].last_dot.numpy())
                model.set_record(False)
    return np.concatenate(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=os.environ.get("BNNFPGA_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data")))
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--train-images", type=int, default=60000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="torch device for training (cpu, cuda); export and checks run on the CPU")
    p.add_argument("--target-cycles", type=int, default=50000)
    p.add_argument("--models", default="chain,resnet,densenet")
    p.add_argument("--out", default="bench_shortcut_out")
    p.add_argument("--csim", action="store_true", help="also C-simulate 20 test images per model (g++)")
    args = p.parse_args()
    ds = load_dataset("fashion-mnist", args.data_root)
    Path(args.out).mkdir(exist_ok=True)
    rows = []
    for key in args.models.split(","):
        arch, kw = MODELS[key]
        torch.manual_seed(0)
        model = zoo.build(arch, input_shape=[1, 28, 28], classes=10, **kw)
        n = min(args.train_images, len(ds.x_train))
        cfg = TrainConfig(epochs=args.epochs, batch_size=100, lr=3e-3, lr_end=3e-4, threads=args.threads,
                          device=args.device)
        res = train(model, ds.x_train[:n], ds.y_train[:n], cfg, progress=False)
        net = export.to_ir(model, (1, 28, 28), name=key, classes=list(ds.classes))
        path = modelfile.save(net, Path(args.out) / f"{key}.bnn")
        net = modelfile.load(path)
        t0 = time.time()
        g = golden.GoldenModel(net).run(ds.x_test)
        gsec = time.time() - t0
        t = scores_torch(model, ds.x_test)
        exact = bool(np.array_equal(t, g))
        acc = float((golden.predict_labels(g) == ds.y_test).mean())
        fold = fo.for_target(net, args.target_cycles)
        pl = backend.plan(net, fold)
        lanes = sum(f.pe * f.simd for f in fold.values())
        sc_bits = getattr(pl, "shortcut_fifo_bits", 0) if net.is_graph else 0
        all_bits = getattr(pl, "fifo_bits", 0) if net.is_graph else 0
        sim = ""
        if net.is_graph:
            procs = [s.proc for s in pl.stages]
            t1 = time.time()
            r = fifo_depth.simulate(procs, pl.schedule.depths, frames=3)
            sim = f"{'DEADLOCK' if r.deadlock else r.period} ({time.time() - t1:.0f} s)"
        csim_ok = ""
        if args.csim:
            from bnnfpga.hls import csim

            scores = csim.simulate(net, ds.x_test[:20], fold)
            csim_ok = "yes" if np.array_equal(scores, g[:20]) else "NO"
        rows.append((key, arch, weight_bits(net), len(net.layers), res.seconds, acc, exact, pl.pipeline_cycles, lanes,
                     sc_bits, all_bits, sim, csim_ok))
        print(f"[{key}] {res.summary()}; golden {len(ds.x_test) / gsec:.0f} images/s", flush=True)
        if net.is_graph:
            print(pl.fifo_table(), flush=True)
    print()
    print(f"Fashion-MNIST, {min(args.train_images, len(ds.x_train))} training images, {args.epochs} epochs, batch 100, "
          f"Adam 3e-3 -> 3e-4, device {args.device}, {args.threads} CPU threads; accuracy of the golden model on the 10,000 test images; "
          f"HLS folding for a target of {args.target_cycles} cycles/frame (fo.for_target)")
    hdr = (f"{'model':9} {'arch':16} {'weight bits':>11} {'layers':>6} {'train s':>8} {'test acc':>8} {'torch==golden':>13} "
           f"{'cycles/frame':>12} {'PExSIMD':>8} {'shortcut FIFO bits':>18} {'all deep FIFO bits':>18} "
           f"{'cycle sim':>16} {'C-sim':>5}")
    print(hdr)
    for r in rows:
        print(f"{r[0]:9} {r[1]:16} {r[2]:>11} {r[3]:>6} {r[4]:>8.0f} {100 * r[5]:>7.2f}% {str(r[6]):>13} {r[7]:>12} "
              f"{r[8]:>8} {r[9]:>18} {r[10]:>18} {r[11]:>16} {r[12]:>5}")
    print("caveats: few epochs on shared CPU cores (not converged; Bethge et al. train for 100s of epochs); "
          "the chain/ResNet/DenseNet sizes are matched by eye on weight bits, not tuned; no synthesis here "
          "(LUT/BRAM need the RTL backend + yosys); FIFO bits count only FIFOs deeper than HLS's default 2; "
          "the cycle simulation models each HLS stage at II=1 with one cycle of latency.")


if __name__ == "__main__":
    main()
