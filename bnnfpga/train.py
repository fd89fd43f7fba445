"""Training loop for binarized networks (BinaryNet recipe).

Adam on the latent weights, clipped to [-1, 1] after every step; a learning
rate decaying exponentially from ``lr`` to ``lr_end`` over the epochs;
square-hinge loss on +-1 targets (BinaryNet) or cross-entropy; a validation
split that picks the best epoch; checkpoints that rebuild the model without
pickle (``torch.load(weights_only=True)``).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from . import zoo
from .export import images_to_tensor
from .nn import clip_weights

CHECKPOINT_FORMAT = "bnnfpga-checkpoint-1"


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 100
    lr: float = 3e-3
    lr_end: float = 3e-4
    loss: str = "sqhinge"  # or "ce"
    val_fraction: float = 0.1
    seed: int = 0
    threads: Optional[int] = None
    device: str = "cpu"


@dataclass
class TrainResult:
    epochs: int
    seconds: float
    best_epoch: int
    val_accuracy: float
    test_accuracy: Optional[float]
    history: list = field(default_factory=list)

    def summary(self) -> str:
        test = f", test accuracy {100 * self.test_accuracy:.2f}%" if self.test_accuracy is not None else ""
        return (f"trained {self.epochs} epochs in {self.seconds:.1f} s; best epoch {self.best_epoch} "
                f"(validation accuracy {100 * self.val_accuracy:.2f}%){test}")


def sq_hinge(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    t = -torch.ones_like(logits)
    t.scatter_(1, y.view(-1, 1), 1.0)
    return torch.clamp(1.0 - t * logits, min=0).pow(2).mean()


def accuracy(model, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for s in range(0, len(x), batch):
            correct += (model(x[s : s + batch]).argmax(1) == y[s : s + batch]).sum().item()
    return correct / max(1, len(x))


def split_validation(n: int, fraction: float, seed: int):
    idx = np.random.default_rng(seed).permutation(n)
    nv = int(round(n * fraction))
    return idx[nv:], idx[:nv]


def save_checkpoint(path, model, extra: dict) -> None:
    name, kwargs = model.arch
    ck = {"format": CHECKPOINT_FORMAT, "arch": name, "kwargs": kwargs, "state_dict": model.state_dict(), **extra}
    tmp = Path(str(path) + ".tmp")
    torch.save(ck, tmp)
    tmp.replace(path)


def load_checkpoint(path):
    """Rebuild a zoo model from a checkpoint (no pickle: weights_only=True)."""
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001 - any unreadable file becomes one line
        raise ValueError(f"{path}: not a readable bnnfpga checkpoint ({type(e).__name__}: {str(e).splitlines()[0][:120]})") from None
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a bnnfpga checkpoint (missing format '{CHECKPOINT_FORMAT}')")
    model = zoo.build(ck["arch"], **ck["kwargs"])
    model.load_state_dict(ck["state_dict"])
    model.eval()
    return model, ck


def train(model, x_train: np.ndarray, y_train: np.ndarray, cfg: TrainConfig, x_test=None, y_test=None,
          checkpoint_dir=None, progress: bool = True, extra_meta: Optional[dict] = None) -> TrainResult:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    tr_idx, va_idx = split_validation(len(x_train), cfg.val_fraction, cfg.seed)
    dev = torch.device(cfg.device)
    model.to(dev)
    X = images_to_tensor(x_train).to(dev)
    Y = torch.from_numpy(np.asarray(y_train, dtype=np.int64)).to(dev)
    Xtr, Ytr, Xva, Yva = X[tr_idx], Y[tr_idx], X[va_idx], Y[va_idx]
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gamma = (cfg.lr_end / cfg.lr) ** (1.0 / max(1, cfg.epochs - 1)) if cfg.epochs > 1 else 1.0
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma)
    loss_fn = sq_hinge if cfg.loss == "sqhinge" else F.cross_entropy
    if cfg.loss not in ("sqhinge", "ce"):
        raise ValueError(f"loss must be 'sqhinge' or 'ce', got {cfg.loss!r}")
    ckdir = Path(checkpoint_dir) if checkpoint_dir else None
    if ckdir:
        ckdir.mkdir(parents=True, exist_ok=True)
    best = (-1.0, 0)
    best_state = None
    history = []
    t0 = time.time()
    gen = torch.Generator().manual_seed(cfg.seed)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.epochs * math.ceil(len(Xtr) / cfg.batch_size), desc="training", unit="batch", leave=False)
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        perm = torch.randperm(len(Xtr), generator=gen).to(dev)
        tot, nb = 0.0, 0
        for s in range(0, len(Xtr), cfg.batch_size):
            b = perm[s : s + cfg.batch_size]
            loss = loss_fn(model(Xtr[b]), Ytr[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            clip_weights(model)
            tot += loss.item()
            nb += 1
            if bar:
                bar.update(1)
        sched.step()
        va = accuracy(model, Xva, Yva) if len(Xva) else accuracy(model, Xtr, Ytr)
        history.append({"epoch": epoch, "loss": tot / max(1, nb), "val_accuracy": va})
        if bar:
            bar.set_postfix(epoch=epoch, loss=f"{tot / max(1, nb):.4f}", val=f"{100 * va:.1f}%")
        if va > best[0]:
            best = (va, epoch)
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if ckdir:
            save_checkpoint(ckdir / "last.pt", model, {"epoch": epoch, "meta": extra_meta or {}})
    if bar:
        bar.close()
    model.load_state_dict(best_state)
    model.eval()
    model.cpu()
    if ckdir:
        save_checkpoint(ckdir / "best.pt", model, {"epoch": best[1], "meta": extra_meta or {}})
    test_acc = None
    if x_test is not None:  # measured in torch on the CPU (eval mode)
        test_acc = accuracy(model, images_to_tensor(x_test), torch.from_numpy(np.asarray(y_test, dtype=np.int64)))
    return TrainResult(cfg.epochs, time.time() - t0, best[1], best[0], test_acc, history)
