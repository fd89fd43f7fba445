"""Training loop for binarized networks (BinaryNet recipe).

Adam on the latent weights, clipped to [-1, 1] after every step; a learning
rate decaying exponentially from ``lr`` to ``lr_end`` over the epochs;
square-hinge loss on +-1 targets (BinaryNet) or cross-entropy; a validation
split that picks the best epoch; checkpoints that rebuild the model without
pickle (``torch.load(weights_only=True)``).

Training at scale (see docs/training-at-scale.md):

* **Several processes.** Under ``torchrun --nproc_per_node N`` the loop runs
  DistributedDataParallel (gloo on the CPU, NCCL on GPUs; see
  :mod:`bnnfpga.distributed`).  ``batch_size`` stays the *global* batch: each
  rank takes ``ceil(batch_size / N)`` images of its shard per step and DDP
  averages the gradients.  Every rank clips its latent weights (they stay
  identical), rank 0's BatchNorm statistics are broadcast before each
  validation, validation counts are all-reduced, and only rank 0 writes
  checkpoints and reports.
* **Resuming.** ``last.pt`` holds, besides the model, the optimizer, the LR
  scheduler, the shuffling generator, every rank's torch RNG state, the best
  epoch's weights and the history: ``train(..., resume="runs/x/last.pt")``
  continues after the saved epoch and ends where the uninterrupted run would
  (bit-identical with the same number of processes).  ``stop_after`` ends a
  run early as if it had been interrupted there.  Resuming with another
  ``epochs`` extends (or shortens) the run: from the resumed epoch on, the
  learning rate follows the schedule of an ``epochs``-long run.
* **Distillation** from a teacher's soft targets (:mod:`bnnfpga.distill`):
  ``distill_weight`` w and ``temperature`` T; both the hard and the soft loss
  are reported per epoch.
* **Per-layer learning rates** ``lr_scale="glorot"`` (BinaryNet): each binary
  layer's learning rate is ``lr / sqrt(1.5 / (fan_in + fan_out))``, i.e. the
  inverse of BinaryNet's Glorot constant H, with ``fan_in = in * k * k`` and
  ``fan_out = out * k * k`` for a k x k convolution (``k = 1`` for dense
  layers); BatchNorm and the output scale keep ``lr``.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from . import distributed, zoo
from .export import images_to_tensor
from .nn import binary_layers, clip_weights

CHECKPOINT_FORMAT = "bnnfpga-checkpoint-1"
LR_SCALES = ("none", "glorot")
# fields whose change between a run and its resumption changes the trajectory
_TRAJECTORY_FIELDS = ("batch_size", "lr", "lr_end", "loss", "val_fraction", "seed", "lr_scale", "distill_weight",
                      "temperature")


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 100  # global batch (split across torchrun processes)
    lr: float = 3e-3
    lr_end: float = 3e-4
    loss: str = "sqhinge"  # or "ce"
    val_fraction: float = 0.1
    seed: int = 0
    threads: Optional[int] = None
    device: str = "cpu"
    lr_scale: str = "none"  # or "glorot" (BinaryNet per-layer learning rates)
    distill_weight: float = 0.0  # w: weight of the teacher's soft targets (needs a teacher)
    temperature: float = 4.0  # T of the soft targets
    stop_after: Optional[int] = None  # stop after this epoch as if interrupted (resume later)


@dataclass
class TrainResult:
    epochs: int
    seconds: float
    best_epoch: int
    val_accuracy: float
    test_accuracy: Optional[float]
    history: list = field(default_factory=list)
    world_size: int = 1
    start_epoch: int = 1  # > 1 when resumed

    def summary(self) -> str:
        test = f", test accuracy {100 * self.test_accuracy:.2f}%" if self.test_accuracy is not None else ""
        ran = self.history[-1]["epoch"] if self.history else 0
        what = f"trained {self.epochs} epochs" if ran >= self.epochs else f"trained {ran} of {self.epochs} epochs"
        if self.start_epoch > 1:
            what += f" (resumed at epoch {self.start_epoch})"
        if self.world_size > 1:
            what += f" on {self.world_size} processes"
        return (f"{what} in {self.seconds:.1f} s; best epoch {self.best_epoch} "
                f"(validation accuracy {100 * self.val_accuracy:.2f}%){test}")


def sq_hinge(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    t = -torch.ones_like(logits)
    t.scatter_(1, y.view(-1, 1), 1.0)
    return torch.clamp(1.0 - t * logits, min=0).pow(2).mean()


def accuracy(model, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    correct, n = _correct(model, x, y, batch)
    return correct / max(1, n)


def _correct(model, x, y, batch: int = 1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for s in range(0, len(x), batch):
            correct += (model(x[s : s + batch]).argmax(1) == y[s : s + batch]).sum().item()
    return correct, len(x)


def split_validation(n: int, fraction: float, seed: int):
    idx = np.random.default_rng(seed).permutation(n)
    nv = int(round(n * fraction))
    return idx[nv:], idx[:nv]


def lr_param_groups(model, lr: float, rule: str = "none"):
    """Optimizer parameter groups: one per binary layer under ``rule="glorot"`` (see the module docstring)."""
    if rule not in LR_SCALES:
        raise ValueError(f"lr_scale must be one of {', '.join(LR_SCALES)}, got {rule!r}")
    if rule == "none":
        return [{"params": list(model.parameters()), "lr": lr}]
    groups, seen = [], set()
    names = {id(m): n for n, m in model.named_modules()}
    for m in binary_layers(model):
        w = m.weight
        k2 = math.prod(w.shape[2:])  # 1 for dense layers
        fan_in, fan_out = math.prod(w.shape[1:]), w.shape[0] * k2
        scale = 1.0 / math.sqrt(1.5 / (fan_in + fan_out))
        groups.append({"params": [w], "lr": lr * scale, "lr_scale": scale, "layer": names.get(id(m), "")})
        seen.add(id(w))
    rest = [p for p in model.parameters() if id(p) not in seen]
    if rest:
        groups.append({"params": rest, "lr": lr, "lr_scale": 1.0, "layer": "other"})
    return groups


def save_checkpoint(path, model, extra: dict) -> None:
    name, kwargs = model.arch
    ck = {"format": CHECKPOINT_FORMAT, "arch": name, "kwargs": kwargs, "state_dict": model.state_dict(), **extra}
    tmp = Path(str(path) + ".tmp")
    torch.save(ck, tmp)
    tmp.replace(path)


def read_checkpoint(path) -> dict:
    """The checkpoint dict (weights_only=True), checked for the format tag."""
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001 - any unreadable file becomes one line
        raise ValueError(f"{path}: not a readable bnnfpga checkpoint ({type(e).__name__}: {str(e).splitlines()[0][:120]})") from None
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a bnnfpga checkpoint (missing format '{CHECKPOINT_FORMAT}')")
    return ck


def load_checkpoint(path, allow_float: bool = False):
    """Rebuild a zoo model from a checkpoint (no pickle: weights_only=True).

    Float teachers (architecture ``float:<name>``, see :mod:`bnnfpga.distill`)
    load only with ``allow_float=True``: they are not binarized networks.
    """
    from . import distill

    ck = read_checkpoint(path)
    if distill.is_float_arch(ck["arch"]):
        if not allow_float:
            raise ValueError(f"{path}: a float model ({ck['arch']}, trained with --float), usable as a teacher "
                             "but not a binarized network")
        model = distill.build_float(ck["arch"], **ck["kwargs"])
    else:
        model = zoo.build(ck["arch"], **ck["kwargs"])
    model.load_state_dict(ck["state_dict"])
    model.eval()
    return model, ck


def _rng_tensors(dev: torch.device):
    out = {"torch": torch.get_rng_state()}
    if dev.type == "cuda":
        out["cuda"] = torch.cuda.get_rng_state(dev)
    return out


def _gather_rng(d, dev: torch.device) -> dict:
    """Every rank's RNG states (lists indexed by rank); collective under torchrun."""
    out = {}
    for k, t in _rng_tensors(dev).items():
        comm = t.to(dev) if dev.type == "cuda" else t  # NCCL gathers GPU tensors only
        out[k] = [g.cpu() for g in distributed.gather_tensor(comm, d)]
    return out


def _restore_rng(saved: dict, d, dev: torch.device, seed: int) -> bool:
    states = saved.get("torch") or []
    if len(states) != d.world_size:
        torch.manual_seed(seed + d.rank + 7919 * len(states))  # another world size: fresh, still deterministic
        return False
    torch.set_rng_state(states[d.rank])
    if dev.type == "cuda" and len(saved.get("cuda") or []) == d.world_size:
        torch.cuda.set_rng_state(saved["cuda"][d.rank], dev)
    return True


def train(model, x_train: np.ndarray, y_train: np.ndarray, cfg: TrainConfig, x_test=None, y_test=None,
          checkpoint_dir=None, progress: bool = True, extra_meta: Optional[dict] = None, teacher=None,
          resume=None, log: Optional[Callable[[str], None]] = None) -> TrainResult:
    """Train ``model`` (a zoo model) in place; returns the best epoch's model (eval mode, on the CPU).

    ``teacher``: a module giving soft targets (with ``cfg.distill_weight > 0``).
    ``resume``: a ``last.pt`` written by an earlier run of the same model.
    ``log``: called on rank 0 with one line per epoch.
    """
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.loss not in ("sqhinge", "ce"):
        raise ValueError(f"loss must be 'sqhinge' or 'ce', got {cfg.loss!r}")
    if not 0.0 <= cfg.distill_weight <= 1.0:
        raise ValueError(f"distill_weight must be in [0, 1], got {cfg.distill_weight}")
    if cfg.distill_weight > 0 and teacher is None:
        raise ValueError("distill_weight > 0 needs a teacher")
    if cfg.temperature <= 0:
        raise ValueError(f"temperature must be positive, got {cfg.temperature}")
    d = distributed.setup(cfg.device)
    main = d.is_main
    torch.manual_seed(cfg.seed + d.rank)
    tr_idx, va_idx = split_validation(len(x_train), cfg.val_fraction, cfg.seed)
    dev = distributed.device_for(cfg.device, d)
    model.to(dev)
    X = images_to_tensor(x_train).to(dev)
    Y = torch.from_numpy(np.asarray(y_train, dtype=np.int64)).to(dev)
    Xtr, Ytr, Xva, Yva = X[tr_idx], Y[tr_idx], X[va_idx], Y[va_idx]
    if not len(Xva):
        Xva, Yva = Xtr, Ytr
    Xva_r, Yva_r = Xva[d.rank :: d.world_size], Yva[d.rank :: d.world_size]  # this rank's validation shard
    if teacher is not None:
        from .distill import check_teacher

        teacher = teacher.to(dev).eval()
        check_teacher(teacher, Xtr[:2], _classes(model, Xtr[:2]))
    opt = torch.optim.Adam(lr_param_groups(model, cfg.lr, cfg.lr_scale), lr=cfg.lr)
    gamma = (cfg.lr_end / cfg.lr) ** (1.0 / max(1, cfg.epochs - 1)) if cfg.epochs > 1 else 1.0
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma)
    loss_fn = sq_hinge if cfg.loss == "sqhinge" else F.cross_entropy
    ckdir = Path(checkpoint_dir) if checkpoint_dir else None
    if ckdir and main:
        ckdir.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(cfg.seed)
    best = (-1.0, 0)
    best_state = None
    history = []
    start = 1
    if resume is not None:
        start, best, best_state, history = _resume(resume, model, opt, sched, gen, cfg, d, dev, log if main else None)
    t0 = time.time()
    net = distributed.wrap(model, d, dev)
    per_rank_batch = -(-cfg.batch_size // d.world_size)
    shard_len = -(-len(Xtr) // d.world_size)
    last_epoch = cfg.epochs if cfg.stop_after is None else min(cfg.epochs, cfg.stop_after)
    bar = None
    if progress and main and last_epoch >= start:
        from tqdm import tqdm

        bar = tqdm(total=(last_epoch - start + 1) * math.ceil(shard_len / per_rank_batch), desc="training",
                   unit="batch", leave=False)
    w, temp = cfg.distill_weight, cfg.temperature
    for epoch in range(start, last_epoch + 1):
        net.train()
        perm = distributed.shard_indices(len(Xtr), gen, d).to(dev)
        sums = torch.zeros(3, dtype=torch.float64)  # total, hard, soft (summed over batches)
        nb = 0
        for s in range(0, len(perm), per_rank_batch):
            b = perm[s : s + per_rank_batch]
            out = net(Xtr[b])
            hard = loss_fn(out, Ytr[b])
            if teacher is not None and w > 0:
                from .distill import combined_loss, kd_loss

                with torch.no_grad():
                    t_out = teacher(Xtr[b])
                soft = kd_loss(out, t_out, temp)
                loss = combined_loss(hard, soft, w)
                sums += torch.tensor([loss.item(), hard.item(), soft.item()], dtype=torch.float64)
            else:
                loss = hard
                sums += torch.tensor([loss.item(), hard.item(), 0.0], dtype=torch.float64)
            opt.zero_grad()
            loss.backward()
            opt.step()
            clip_weights(model)  # every rank: the latent weights stay identical
            nb += 1
            if bar:
                bar.update(1)
        lr_used = float(opt.param_groups[-1]["lr"])
        sched.step()
        distributed.broadcast_buffers(model)  # rank 0's BatchNorm statistics everywhere
        tot, hard_sum, soft_sum, nbatches = distributed.all_reduce_sum([*sums.tolist(), nb], device=_comm_dev(dev))
        correct, count = _correct(model, Xva_r, Yva_r)
        correct, count = distributed.all_reduce_sum([correct, count], device=_comm_dev(dev))
        va = correct / max(1.0, count)
        entry = {"epoch": epoch, "loss": tot / max(1, nbatches), "val_accuracy": va,
                 "lr": lr_used}
        if teacher is not None and w > 0:
            entry.update(hard_loss=hard_sum / max(1, nbatches), distill_loss=soft_sum / max(1, nbatches))
        history.append(entry)
        if bar:
            bar.set_postfix(epoch=epoch, loss=f"{entry['loss']:.4f}", val=f"{100 * va:.1f}%")
        if log and main:
            line = _epoch_line(entry, cfg.epochs)
            if bar is not None and log is print:
                bar.write(line)  # keeps the progress bar intact
            else:
                log(line)
        if va > best[0]:
            best = (va, epoch)
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        rng = _gather_rng(d, dev) if ckdir else None  # collective: every rank takes part
        if ckdir and main:
            state = {"epochs": cfg.epochs, "world_size": d.world_size, "config": asdict(cfg),
                     "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "shuffle_rng": gen.get_state(),
                     "rng": rng, "best_val": float(best[0]), "best_epoch": int(best[1]),
                     "best_state": {k: v.cpu() for k, v in best_state.items()}, "history": history}
            save_checkpoint(ckdir / "last.pt", model, {"epoch": epoch, "meta": extra_meta or {}, "train_state": state})
    if bar:
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    model.cpu()
    if ckdir and main:
        save_checkpoint(ckdir / "best.pt", model, {"epoch": best[1], "meta": extra_meta or {}})
    distributed.barrier()
    test_acc = None
    if x_test is not None:  # measured in torch on the CPU (eval mode); identical on every rank
        test_acc = accuracy(model, images_to_tensor(x_test), torch.from_numpy(np.asarray(y_test, dtype=np.int64)))
    return TrainResult(cfg.epochs, time.time() - t0, best[1], best[0], test_acc, history, d.world_size, start)


def _comm_dev(dev: torch.device):
    return dev if dev.type == "cuda" else None


def _classes(model, x) -> int:
    with torch.no_grad():
        was = model.training
        model.eval()
        n = model(x).shape[1]
        model.train(was)
    return n


def _epoch_line(e: dict, epochs: int) -> str:
    s = f"epoch {e['epoch']}/{epochs}: loss {e['loss']:.4f}"
    if "hard_loss" in e:
        s += f" (hard {e['hard_loss']:.4f}, distillation {e['distill_loss']:.4f})"
    return s + f", validation accuracy {100 * e['val_accuracy']:.2f}%, lr {e['lr']:.3g}"


def _resume(path, model, opt, sched, gen, cfg: TrainConfig, d, dev, log):
    ck = read_checkpoint(path)
    name, kwargs = model.arch
    if ck["arch"] != name or ck["kwargs"] != kwargs:
        raise ValueError(f"{path}: checkpoint of {ck['arch']} {ck['kwargs']}, but the model is {name} {kwargs}")
    ts = ck.get("train_state")
    if not isinstance(ts, dict):
        raise ValueError(f"{path}: no training state to resume from (resume from a last.pt)")
    model.load_state_dict(ck["state_dict"])
    try:
        opt.load_state_dict(ts["optimizer"])
    except ValueError as e:
        raise ValueError(f"{path}: optimizer state does not fit ({e}); resume with the same --lr-scale") from None
    sched.load_state_dict(ts["scheduler"])
    gen.set_state(ts["shuffle_rng"])
    exact = _restore_rng(ts.get("rng") or {}, d, dev, cfg.seed)
    saved_cfg = ts.get("config", {})
    changed = [f"{k} {saved_cfg[k]!r} -> {getattr(cfg, k)!r}" for k in _TRAJECTORY_FIELDS
               if k in saved_cfg and saved_cfg[k] != getattr(cfg, k)]
    notes = []
    if changed:
        notes.append("changed since the checkpoint: " + ", ".join(changed))
    if ts.get("world_size", 1) != d.world_size:
        notes.append(f"checkpoint written by {ts.get('world_size')} processes, resuming on {d.world_size}: "
                     "same data, another order")
    elif not exact:
        notes.append("random state not restored")
    start = int(ck["epoch"]) + 1
    if int(ts["epochs"]) != cfg.epochs and cfg.epochs >= start:
        # another length: from here on, follow the schedule of a cfg.epochs-long run
        g = (cfg.lr_end / cfg.lr) ** (1.0 / max(1, cfg.epochs - 1))
        for grp in opt.param_groups:
            grp["lr"] = grp["initial_lr"] * g ** (start - 1)
        sched.gamma = g
        sched._last_lr = [grp["lr"] for grp in opt.param_groups]
        notes.append(f"{ts['epochs']} planned epochs -> {cfg.epochs}: the learning rate follows the "
                     f"{cfg.epochs}-epoch schedule from epoch {start} (down to {cfg.lr_end:g})")
    for n in notes:
        (log or (lambda m: warnings.warn(m, stacklevel=3)))(f"resume: {n}")
    best_state = {k: v.to(dev) for k, v in ts["best_state"].items()} if ts.get("best_state") else None
    best = (float(ts.get("best_val", -1.0)), int(ts.get("best_epoch", 0)))
    return start, best, best_state, list(ts.get("history", []))
