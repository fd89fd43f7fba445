"""Train the LFC-shaped MLP (784-1024-1024-1024-10, binary weights and activations in every
hidden layer, 8-bit input) on MNIST (and Fashion-MNIST) from local IDX files, export it, and
report test accuracy through the golden model, next to BNN-PYNQ's published 98.40% (LFC-W1A1).

    python benchmarks/bench_mnist_lfc.py --data-root ../shared/data [--epochs 30] [--threads 2]

The data folder must hold mnist/ and fashion-mnist/ with the four IDX files each (.gz or raw);
the project's own IDX loader reads them.  Nothing is downloaded.
"""
import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bnnfpga import export, golden, modelfile, zoo  # noqa: E402
from bnnfpga.data import load_dataset  # noqa: E402
from bnnfpga.train import TrainConfig, train  # noqa: E402

ANCHOR = {"mnist": "BNN-PYNQ LFC-W1A1 98.40% on board; Brevitas LFC W1A1 98.88%",
          "fashion-mnist": "(no BNN-PYNQ figure; FINN/Brevitas publish none for LFC on Fashion-MNIST)"}


def run(name, root, args):
    ds = load_dataset(name, root)
    torch.manual_seed(args.seed)
    model = zoo.build("mlp", input_shape=[1, 28, 28], hidden=[int(v) for v in args.hidden.split(",")], classes=10,
                      t_clip=args.t_clip, dropout=args.dropout)
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, lr_end=args.lr_end,
                      loss=args.loss, val_fraction=args.val_fraction, seed=args.seed, threads=args.threads,
                      device=args.device)
    res = train(model, ds.x_train, ds.y_train, cfg, ds.x_test, ds.y_test,
                checkpoint_dir=Path(args.out) / name, progress=not args.quiet)
    net = export.to_ir(model, (1, 28, 28), name=f"lfc_{name}", classes=list(ds.classes), metadata={"dataset": name})
    path = Path(args.out) / f"lfc_{name}.bnn"
    modelfile.save(net, path)
    net = modelfile.load(path)
    t0 = time.time()
    scores = golden.GoldenModel(net).run(ds.x_test)
    g_sec = time.time() - t0
    pred = golden.predict_labels(scores)
    acc = float((pred == ds.y_test).mean())
    agree = float((pred == export.torch_predict(model, ds.x_test)).mean())
    print(f"[{name}] {res.summary()}")
    print(f"[{name}] golden-model test accuracy {100 * acc:.2f}% on {len(ds.x_test)} test images "
          f"(torch agreement {100 * agree:.2f}%), golden {len(ds.x_test) / g_sec:.0f} images/s; "
          f"device={args.device} threads={torch.get_num_threads()}; anchor: {ANCHOR[name]}")
    return acc, res.seconds


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=os.environ.get("BNNFPGA_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data")))
    p.add_argument("--datasets", default="mnist,fashion-mnist")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--lr-end", type=float, default=1e-5)
    p.add_argument("--loss", default="sqhinge")
    p.add_argument("--t-clip", type=float, default=1.0)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--hidden", default="1024,1024,1024")
    p.add_argument("--val-fraction", type=float, default=1 / 12)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/bench_lfc")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    root = Path(args.data_root)
    if not root.is_dir():
        print(f"benchmark skipped: data folder {root} not found (pass --data-root)")
        return 0
    t0 = time.time()
    for name in args.datasets.split(","):
        run(name, root / name, args)
    print(f"total {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
