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
    p.add_argument("--arch", default="mlp", help="zoo architecture: mlp, cnv, binarynet_cnn, small_cnn, wu13, alexnet_bnn")
    p.add_argument("--dataset", default="digits",
                   help="digits (built in), mnist, fashion-mnist, cifar10, svhn, folder:/path or imagefolder "
                        "(a folder of class folders, given by --data-root)")
    p.add_argument("--data-root", default=None, help="folder holding the data set's files")
    p.add_argument("--hidden", default="256,256", help="MLP hidden widths, e.g. 1024,1024,1024")
    p.add_argument("--width", type=float, default=1.0, help="width multiplier (cnv, binarynet_cnn, wu13, alexnet_bnn)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--lr-end", type=float, default=3e-4)
    p.add_argument("--loss", choices=["sqhinge", "ce"], default="sqhinge")
    p.add_argument("--t-clip", type=float, default=1.0, help="straight-through estimator clipping (BinaryNet 1.0; Bethge et al. 0.5)")
    p.add_argument("--alpha", action="store_true", help="XNOR-Net per-channel weight scale (folds into thresholds)")
    p.add_argument("--first-last", choices=["binary", "fixed"], default="binary",
                   help="fixed: 8-bit fixed-point weights on the first and the last layer (BinaryNet / XNOR-Net style)")
    p.add_argument("--stochastic", action="store_true", help="stochastic binarization in training")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--limit-train", type=int, default=None, help="use only the first N training images")
    p.add_argument("-o", "--out", default="runs/train", help="checkpoint folder (best.pt, last.pt)")
    p.add_argument("--export", default=None, metavar="MODEL.bnn", help="also export the best model to this model file")
    p.add_argument("--device", default="cpu", help="cpu or cuda (under torchrun: cuda:LOCAL_RANK, NCCL)")
    p.add_argument("--resume", default=None, metavar="LAST.pt",
                   help="continue a run from its last.pt (optimizer, LR schedule, RNG state); pass the same options")
    p.add_argument("--stop-after", type=int, default=None, metavar="EPOCH",
                   help="stop after this epoch (last.pt resumes it), e.g. to fit a job time limit")
    p.add_argument("--teacher", default=None, metavar="CK.pt",
                   help="distill from this checkpoint's soft targets (a zoo model, or a float model from --float)")
    p.add_argument("--distill-weight", type=float, default=None, metavar="W",
                   help="loss = (1-W)*hard + W*T^2*KL(teacher||student) (default 0.5 with --teacher)")
    p.add_argument("--temperature", type=float, default=4.0, metavar="T", help="softmax temperature of the soft targets")
    p.add_argument("--lr-scale", choices=["none", "glorot"], default="none",
                   help="glorot: each binary layer's LR times 1/sqrt(1.5/(fan_in+fan_out)) (BinaryNet)")
    p.add_argument("--float", action="store_true", dest="float_model",
                   help="train a full-precision version of the architecture (a teacher; not exportable)")
    p.add_argument("--image-size", type=int, default=32, help="folder data sets: crop size (square)")
    p.add_argument("--resize", type=int, default=None, help="folder data sets: shorter side before the crop")
    p.add_argument("--grayscale", action="store_true", help="folder data sets: read images as grey-scale")
    p.add_argument("--test-fraction", type=float, default=0.2,
                   help="folder data sets without train/ and val/: held-out test fraction")
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
def _load_data(name, root, limit_train=None, image_size=32, grayscale=False, resize=None, test_fraction=0.2):
    from .data import folder_dataset_path, is_folder_dataset, load_dataset, load_image_folder

    if is_folder_dataset(name):
        ds = load_image_folder(folder_dataset_path(name, root), size=image_size, grayscale=grayscale, resize=resize,
                               test_fraction=test_fraction)
    else:
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
    if getattr(args, "first_last", "binary") != "binary":
        common["first_last"] = args.first_last
    if args.arch == "mlp":
        return zoo.build("mlp", hidden=_int_list(args.hidden), **common)
    try:
        if args.arch in ("cnv", "binarynet_cnn", "wu13", "alexnet_bnn"):
            return zoo.build(args.arch, width=args.width, **common)
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
    from . import distributed
    from .train import TrainConfig, load_checkpoint, train

    d = distributed.setup(args.device)  # torchrun: join the process group (nothing otherwise)
    say = print if d.is_main else (lambda *a, **k: None)
    try:
        ds = _load_data(args.dataset, args.data_root, args.limit_train, args.image_size, args.grayscale, args.resize,
                        args.test_fraction)
        import torch

        torch.manual_seed(args.seed)  # the initial weights depend on --seed only (under torchrun too)
        model = _build_model(args, ds)
        if args.float_model:
            from .distill import to_float

            if args.export:
                raise UserError("--float trains a full-precision teacher, which cannot be exported (drop --export)")
            try:
                to_float(model)
            except ValueError as e:
                raise UserError(str(e)) from None
        teacher, w = None, args.distill_weight
        if args.teacher:
            from .distill import load_teacher

            try:
                teacher = load_teacher(args.teacher)
            except ValueError as e:
                raise UserError(str(e)) from None
            w = 0.5 if w is None else w
        elif w:
            raise UserError("--distill-weight needs --teacher")
        cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, lr_end=args.lr_end, loss=args.loss,
                          val_fraction=args.val_fraction, seed=args.seed, threads=args.threads, device=args.device,
                          lr_scale=args.lr_scale, distill_weight=w or 0.0, temperature=args.temperature,
                          stop_after=args.stop_after)
        meta = {"dataset": ds.name, "classes": list(ds.classes)}
        procs = f" on {d.world_size} processes" if d.enabled else ""
        say(f"training {model.arch[0]} on {ds.name}{procs}: {len(ds.x_train)} training images, {len(ds.x_test)} test images")
        if teacher is not None:
            say(f"distilling from {args.teacher} ({teacher.arch[0]}): weight {cfg.distill_weight}, temperature {cfg.temperature}")
        try:
            res = train(model, ds.x_train, ds.y_train, cfg, ds.x_test, ds.y_test, checkpoint_dir=args.out,
                        extra_meta=meta, teacher=teacher, resume=args.resume, progress=d.is_main, log=say)
        except ValueError as e:
            raise UserError(str(e).splitlines()[0]) from None
        say(res.summary())
        say(f"checkpoints: {Path(args.out) / 'best.pt'}, {Path(args.out) / 'last.pt'}")
        if args.export and d.is_main:
            net = _export_model(model, model.arch[1]["input_shape"], args.export, Path(args.export).stem, list(ds.classes),
                                {"dataset": ds.name, "train_seconds": round(res.seconds, 1)})
            say(f"model file: {args.export} ({len(net.compute_layers())} compute layers)")
    finally:
        distributed.cleanup()
    return 0


def _export(args) -> int:
    from .ir import weight_bits
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
          f"{sum(l.weights.size * weight_bits(l) for l in net.compute_layers())} weight bits, {flips} channels with a flipped comparison")
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
        if getattr(layer, "weight_bits", 1) > 1:
            extra += f"; {layer.weight_bits}-bit weights (x 2^-{layer.weight_frac})"
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
