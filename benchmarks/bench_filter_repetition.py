"""Filter repetitions (Hubara et al., supplementary C) in a trained CNV-shaped network.

Trains zoo.cnv (BNN-PYNQ's CNV: 3x3 "valid" convolutions 64-64-MP-128-128-MP-256-256, FC 512-512-10,
times --width) on the 2,000 exact CIFAR-10 training images of cifar10_lossless_subset.npz (read by
bnnfpga.data; 1,000 exact test images), exports it to the IR and prints, per binary 3x3 convolution,
the share of unique 2D filters per input channel up to sign, next to the paper's 42% and to two
baselines: the same network before training (Glorot-uniform latent weights: random signs) and the
expectation for uniformly random signs.

    python benchmarks/bench_filter_repetition.py --data-root /work/shared/data [--width 0.5] [--epochs 8]
        [--swap-splits] [--device cuda]

--swap-splits trains on more images where only the CIFAR-10 *test* set is available in full:
it trains on test images 1000-9999 (cifar10_test.npz, JPEG-passed pixels) and measures accuracy on
the 2,000 exact *training* images, which the network never sees. The accuracy is then not an official
CIFAR-10 test figure (a different split, lossy training pixels); the filter statistics need no
official split. The trained model is saved as OUT/model.bnn.

This is a small run (a few epochs on 2,000 images, CPU), not the paper's 500-epoch CIFAR-10
training: the ratio of a network trained to convergence on the full set may differ.
"""
import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bnnfpga import export, golden, modelfile, zoo  # noqa: E402
from bnnfpga.data import load_cifar10  # noqa: E402
from bnnfpga.filter_repetition import analyze, repetition_table, summary  # noqa: E402
from bnnfpga.train import TrainConfig, train  # noqa: E402

PAPER = 0.42


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default="/work/shared/data")
    ap.add_argument("--arch", default="cnv", choices=["cnv", "binarynet_cnn"])
    ap.add_argument("--width", type=float, default=0.5)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=50)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--lr-end", type=float, default=3e-4)
    ap.add_argument("--lr-scale", default="none", choices=["none", "glorot"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/bench_filter_repetition")
    ap.add_argument("--swap-splits", action="store_true",
                    help="train on CIFAR-10 test images 1000-9999, test on the 2,000 exact training images (see above)")
    ap.add_argument("--check-images", type=int, default=100, help="torch == golden model on this many test images")
    args = ap.parse_args(argv)

    ds = load_cifar10(Path(args.data_root) / "cifar10", lossless=True)
    what = "exact CIFAR-10 images"
    if args.swap_splits:
        full = load_cifar10(Path(args.data_root) / "cifar10")
        ds.x_train, ds.y_train, ds.x_test, ds.y_test = full.x_test[1000:], full.y_test[1000:], ds.x_train, ds.y_train
        what = "CIFAR-10 test images 1000-9999 (JPEG-passed; testing on the 2,000 exact training images)"
    torch.manual_seed(args.seed)
    model = zoo.build(args.arch, input_shape=[3, 32, 32], width=args.width, classes=10)
    net0 = export.to_ir(model.eval(), (3, 32, 32), name=f"{args.arch}_untrained")
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, lr_end=args.lr_end,
                      threads=args.threads, device=args.device, seed=args.seed, lr_scale=args.lr_scale)
    print(f"training {args.arch} width {args.width} on {len(ds.x_train)} {what} "
          f"({args.epochs} epochs, {args.device}, {args.threads} threads)")
    res = train(model, ds.x_train, ds.y_train, cfg, ds.x_test, ds.y_test, checkpoint_dir=Path(args.out) / "ck",
                progress=False, log=print)
    print(res.summary())
    net = export.to_ir(model, (3, 32, 32), name=f"{args.arch}_w{args.width:g}_trained", classes=list(ds.classes))
    if args.check_images:
        x = ds.x_test[: args.check_images]
        g = golden.predict_labels(golden.GoldenModel(net).run(x))
        assert (g == export.torch_predict(model, x)).all(), "torch and golden model disagree"
    print()
    print(repetition_table(net))
    print()
    print(repetition_table(net0))
    trained, untrained = analyze(net), analyze(net0)
    print()
    print(f"{'layer':8s} {'in x out':>10s} {'trained':>8s} {'untrained':>10s} {'E[random]':>10s} {'paper':>6s}")
    for a, b in zip(trained, untrained):
        print(f"{a.name:8s} {f'{a.in_channels}x{a.out_channels}':>10s} {100 * a.unique_ratio:7.1f}% "
              f"{100 * b.unique_ratio:9.1f}% {100 * a.random_ratio:9.1f}% {100 * PAPER:5.0f}%")
    st, su = summary(trained), summary(untrained)
    print(f"{'mean':8s} {'':>10s} {100 * st['mean_unique_ratio']:7.1f}% {100 * su['mean_unique_ratio']:9.1f}% "
          f"{100 * st['mean_random_ratio']:9.1f}% {100 * PAPER:5.0f}%")
    print(f"XNOR-popcount reduction over these layers: trained {st['xnor_reduction']:.2f}x, "
          f"untrained {su['xnor_reduction']:.2f}x (paper: about 3x)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    modelfile.save(net, out / "model.bnn")
    (out / "summary.json").write_text(json.dumps({
        "arch": args.arch, "width": args.width, "epochs": args.epochs, "train_images": int(len(ds.x_train)), "swap_splits": bool(args.swap_splits),
        "test_accuracy": res.test_accuracy, "train_seconds": res.seconds,
        "trained": st, "untrained": su,
        "layers": [{"name": a.name, "in": a.in_channels, "out": a.out_channels, "trained": a.unique_ratio,
                    "untrained": b.unique_ratio, "expected_random": a.random_ratio}
                   for a, b in zip(trained, untrained)]}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
