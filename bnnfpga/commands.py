"""Sub-commands of the foundation: train, export, predict, evaluate, info, demo."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .cli import UserError


def _int_list(s: str):
    try:
        return [int(v) for v in s.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"expected a comma-separated list of integers, got {s!r}") from None


def register(sub) -> None:
    p = sub.add_parser("train", help="train a BNN from the zoo on a data set; writes checkpoints")
    p.add_argument("--arch", default="mlp", help="zoo architecture: mlp, cnv, binarynet_cnn, small_cnn")
    p.add_argument("--dataset", default="digits", help="digits (built in), mnist, fashion-mnist, cifar10, svhn")
    p.add_argument("--data-root", default=None, help="folder holding the data set's files")
    p.add_argument("--hidden", default="256,256", help="MLP hidden widths, e.g. 1024,1024,1024")
    p.add_argument("--width", type=float, default=1.0, help="width multiplier (cnv, binarynet_cnn)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--lr-end", type=float, default=3e-4)
    p.add_argument("--loss", choices=["sqhinge", "ce"], default="sqhinge")
    p.add_argument("--t-clip", type=float, default=1.0, help="straight-through estimator clipping (BinaryNet 1.0; Bethge et al. 0.5)")
    p.add_argument("--alpha", action="store_true", help="XNOR-Net per-channel weight scale (folds into thresholds)")
    p.add_argument("--stochastic", action="store_true", help="stochastic binarization in training")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--limit-train", type=int, default=None, help="use only the first N training images")
    p.add_argument("-o", "--out", default="runs/train", help="checkpoint folder (best.pt, last.pt)")
    p.add_argument("--export", default=None, metavar="MODEL.bnn", help="also export the best model to this model file")
    p.set_defaults(func=_train)

    p = sub.add_parser("export", help="checkpoint (.pt) -> model file (.bnn) with folded thresholds")
    p.add_argument("checkpoint")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--name", default=None)
    p.set_defaults(func=_export)

    p = sub.add_parser("predict", help="golden-model scores for raw uint8 images")
    p.add_argument("model")
    p.add_argument("--input", required=True, help="X.npy: uint8 N x H x W or N x H x W x C")
    p.add_argument("--output", required=True, help="S.npy: int32 N x classes scores")
    p.add_argument("--top-k", type=int, default=1)
    p.set_defaults(func=_predict)

    p = sub.add_parser("evaluate", help="accuracy of a model file on a data set's test split (golden model)")
    p.add_argument("model")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--data-root", default=None)
    p.add_argument("--limit", type=int, default=None, help="first N test images only")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("info", help="print a model file's layers and shapes")
    p.add_argument("model")
    p.set_defaults(func=_info)

    p = sub.add_parser("demo", help="train a small BNN on scikit-learn digits, export, evaluate bit-exactly")
    p.add_argument("-o", "--out", default="runs/demo")
    p.add_argument("--epochs", type=int, default=25)
    p.set_defaults(func=_demo)


# ------------------------------------------------------------------ helpers
def _load_data(name, root, limit_train=None):
    from .data import load_dataset

    ds = load_dataset(name, root)
    if limit_train:
        ds.x_train, ds.y_train = ds.x_train[:limit_train], ds.y_train[:limit_train]
    return ds


def _build_model(args, ds):
    from . import zoo

    x = ds.x_train
    shape = (1,) + x.shape[1:3] if x.ndim == 3 else (x.shape[3],) + x.shape[1:3]
    common = dict(input_shape=list(shape), classes=len(ds.classes), t_clip=args.t_clip, alpha=args.alpha,
                  stochastic=args.stochastic)
    if args.arch == "mlp":
        return zoo.build("mlp", hidden=_int_list(args.hidden), **common)
    if args.arch in ("cnv", "binarynet_cnn"):
        return zoo.build(args.arch, width=args.width, **common)
    try:
        return zoo.build(args.arch, **common)
    except ValueError as e:
        raise UserError(str(e)) from None


def _export_model(model, shape_chw, path, name, classes, meta):
    from . import export, modelfile

    net = export.to_ir(model, tuple(shape_chw), name=name, classes=classes, metadata=meta)
    modelfile.save(net, path)
    return net


# ------------------------------------------------------------------ commands
def _train(args) -> int:
    from .train import TrainConfig, train

    ds = _load_data(args.dataset, args.data_root, args.limit_train)
    model = _build_model(args, ds)
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, lr_end=args.lr_end, loss=args.loss,
                      val_fraction=args.val_fraction, seed=args.seed, threads=args.threads)
    meta = {"dataset": ds.name, "classes": list(ds.classes)}
    print(f"training {model.arch[0]} on {ds.name}: {len(ds.x_train)} training images, {len(ds.x_test)} test images")
    res = train(model, ds.x_train, ds.y_train, cfg, ds.x_test, ds.y_test, checkpoint_dir=args.out, extra_meta=meta)
    print(res.summary())
    print(f"checkpoints: {Path(args.out) / 'best.pt'}, {Path(args.out) / 'last.pt'}")
    if args.export:
        net = _export_model(model, model.arch[1]["input_shape"], args.export, Path(args.export).stem, list(ds.classes),
                            {"dataset": ds.name, "train_seconds": round(res.seconds, 1)})
        print(f"model file: {args.export} ({len(net.compute_layers())} compute layers)")
    return 0


def _export(args) -> int:
    from .train import load_checkpoint

    try:
        model, ck = load_checkpoint(args.checkpoint)
    except ValueError as e:
        raise UserError(str(e)) from None
    meta = ck.get("meta", {}) or {}
    classes = meta.get("classes") or None
    name = args.name or Path(args.output).stem
    net = _export_model(model, ck["kwargs"]["input_shape"], args.output, name, classes, {"dataset": meta.get("dataset", "")})
    flips = sum(int((l.thresholds.direction < 0).sum()) for l in net.compute_layers() if l.thresholds is not None)
    print(f"exported {args.checkpoint} -> {args.output}: {len(net.layers)} layers, "
          f"{sum(l.weights.size for l in net.compute_layers())} weight bits, {flips} channels with a flipped comparison")
    return 0


def load_images(path) -> np.ndarray:
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: input file not found")
    try:
        x = np.load(p, allow_pickle=False)
    except Exception as e:  # noqa: BLE001
        raise UserError(f"{p}: not a readable .npy array ({type(e).__name__})") from None
    if not isinstance(x, np.ndarray):
        raise UserError(f"{p}: expected a single .npy array, got an archive")
    return x


def save_scores(path, scores: np.ndarray) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp.npy")
    np.save(tmp, scores.astype(np.int32))
    tmp.replace(p)


def _predict(args) -> int:
    from . import golden, modelfile

    net = modelfile.load(args.model)
    x = load_images(args.input)
    t0 = time.time()
    scores = golden.GoldenModel(net).run(x)
    dt = time.time() - t0
    save_scores(args.output, scores)
    labels = golden.label_select(scores, args.top_k)
    print(f"{len(x)} images -> {args.output} (int32 {scores.shape[0]} x {scores.shape[1]} scores), "
          f"{len(x) / max(dt, 1e-9):.0f} images/s; first labels: {labels[:8, 0].tolist()}")
    return 0


def _evaluate(args) -> int:
    from . import golden, modelfile

    net = modelfile.load(args.model)
    ds = _load_data(args.dataset, args.data_root)
    x, y = ds.x_test, ds.y_test
    if args.limit:
        x, y = x[: args.limit], y[: args.limit]
    t0 = time.time()
    scores = golden.GoldenModel(net).run(x, progress=len(x) > 2000)
    acc = float((golden.predict_labels(scores) == y).mean())
    print(f"{net.name} on {ds.name} test ({len(x)} images): golden-model accuracy {100 * acc:.2f}% "
          f"({len(x) / max(time.time() - t0, 1e-9):.0f} images/s)")
    return 0


def _info(args) -> int:
    from . import modelfile

    net = modelfile.load(args.model)
    sp = net.input
    print(f"{net.name}: input {sp.height}x{sp.width}x{sp.channels} uint8, q = p - {sp.zero_point} "
          f"(x = q * 2^-{sp.frac_bits}); {net.num_classes} classes")
    for layer, (i, o) in zip(net.layers, net.shapes()):
        extra = ""
        if getattr(layer, "thresholds", None) is not None:
            extra = f"thresholds, {(layer.thresholds.direction < 0).sum()} flipped"
        elif hasattr(layer, "weights"):
            extra = "integer scores"
        print(f"  {layer.kind:8s} {layer.name:12s} {str(i):16s} -> {str(o):16s} {extra}")
    return 0


def _demo(args) -> int:
    """The README's main job: digits -> binary MLP -> model file -> golden model, bit-exact with torch."""
    from . import export, golden, modelfile, zoo
    from .train import TrainConfig, train

    t0 = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ds = _load_data("digits", None)
    print(f"data: scikit-learn digits, {len(ds.x_train)} training / {len(ds.x_test)} held-out test images (8x8, uint8)")
    model = zoo.build("mlp", input_shape=[1, 8, 8], hidden=[256, 256], classes=10, t_clip=1.0)
    print("model: MLP 64-256-256-10, binary weights and activations in every hidden layer, 8-bit input")
    res = train(model, ds.x_train, ds.y_train, TrainConfig(epochs=args.epochs, batch_size=64, lr=1e-2, lr_end=1e-4),
                ds.x_test, ds.y_test, checkpoint_dir=out / "checkpoints", extra_meta={"dataset": ds.name, "classes": ds.classes})
    print(res.summary())
    path = out / "digits_mlp.bnn"
    net = export.to_ir(model, (1, 8, 8), name="digits_mlp", classes=list(ds.classes), metadata={"dataset": ds.name})
    modelfile.save(net, path)
    net = modelfile.load(path)
    print(f"model file: {path} ({path.stat().st_size} bytes)")
    scores = golden.GoldenModel(net).run(ds.x_test)
    g_pred = golden.predict_labels(scores)
    t_pred = export.torch_predict(model, ds.x_test)
    acc = float((g_pred == ds.y_test).mean())
    agree = float((g_pred == t_pred).mean())
    np.save(out / "test_images.npy", ds.x_test)
    print(f"golden model (XNOR-popcount-threshold, integer): test accuracy {100 * acc:.2f}%")
    print(f"torch vs golden model: {100 * agree:.2f}% identical predictions on {len(ds.x_test)} images")
    print(f"demo finished in {time.time() - t0:.1f} s; try: bnnfpga predict {path} --input {out / 'test_images.npy'} --output {out / 'scores.npy'}")
    (out / "summary.json").write_text(json.dumps({"test_accuracy": acc, "torch_golden_agreement": agree,
                                                  "seconds": time.time() - t0}, indent=2) + "\n")
    return 0 if agree == 1.0 else 1
