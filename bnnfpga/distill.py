"""Knowledge distillation and float teachers.

The recipe of Wu et al. (and Hinton et al.): a trained teacher gives soft
targets ``softmax(t / T)``; the student minimizes

    loss = (1 - w) * hard_loss(s, y) + w * T**2 * KL(softmax(t / T) || softmax(s / T))

where ``hard_loss`` is the training loss on the labels (square hinge or
cross-entropy), ``s`` and ``t`` the student's and teacher's scores, ``T`` the
temperature and ``w`` the distillation weight.  The KL divergence is the
usual one of distillation: the teacher's distribution against the student's,
``sum_k p_t,k (log p_t,k - log p_s,k)``, averaged over the batch; ``T**2``
keeps its gradient on the scale of the hard loss when ``T`` changes.

A teacher is any module mapping raw pixels (N, C, H, W floats 0..255) to
class scores: a bnnfpga checkpoint of a zoo model (binary), or a *float*
version of a zoo architecture (:func:`to_float`: the same layers with real
weights and a hardtanh instead of sign), trained with ``bnnfpga train --float``.
Float checkpoints record the architecture as ``float:<name>`` so that they
rebuild here but are refused by the export (they are not BNNs).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .nn import BinaryActivation, BinaryConv2d, BinaryLinear

FLOAT_PREFIX = "float:"


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 * KL(softmax(teacher/T) || softmax(student/T)), batch mean."""
    t = float(temperature)
    log_ps = F.log_softmax(student / t, dim=1)
    log_pt = F.log_softmax(teacher / t, dim=1)
    return F.kl_div(log_ps, log_pt, reduction="batchmean", log_target=True) * (t * t)


def combined_loss(hard: torch.Tensor, soft: torch.Tensor, weight: float) -> torch.Tensor:
    return (1.0 - weight) * hard + weight * soft


# ------------------------------------------------------------------ float teachers
class FloatLinear(nn.Module):
    """Real-valued counterpart of BinaryLinear (weights and bias are learned, not binarized)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


class FloatConv2d(nn.Module):
    """Real-valued counterpart of BinaryConv2d ("same" padding keeps the binary layer's pad value)."""

    def __init__(self, src: BinaryConv2d):
        super().__init__()
        self.kernel_size, self.padding, self.pad_value = src.kernel_size, src.padding, src.pad_value
        self.weight = nn.Parameter(torch.empty(src.out_channels, src.in_channels, src.kernel_size, src.kernel_size))
        self.bias = nn.Parameter(torch.zeros(src.out_channels))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def forward(self, x):
        if self.padding == "same":
            p = (self.kernel_size - 1) // 2
            x = F.pad(x, (p, p, p, p), value=self.pad_value)
        return F.conv2d(x, self.weight, self.bias)


def to_float(model: nn.Sequential) -> nn.Sequential:
    """Replace a zoo model's binary layers by float ones and sign by hardtanh (in place; returns it).

    ``model.arch`` becomes ``("float:<name>", kwargs)``.
    """
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"float versions exist for chain (sequential) zoo models only, not {model.arch[0]}")
    for i, m in enumerate(list(model)):
        if isinstance(m, BinaryConv2d):
            model[i] = FloatConv2d(m)
        elif isinstance(m, BinaryLinear):
            model[i] = FloatLinear(m.in_features, m.out_features)
        elif isinstance(m, BinaryActivation):
            model[i] = nn.Hardtanh()
    name, kwargs = model.arch
    if not name.startswith(FLOAT_PREFIX):
        model.arch = (FLOAT_PREFIX + name, dict(kwargs))
    return model


def is_float_arch(name: str) -> bool:
    return str(name).startswith(FLOAT_PREFIX)


def build_float(name: str, **kwargs) -> nn.Sequential:
    """A float version of zoo architecture ``name`` (``float:`` prefix optional)."""
    from . import zoo

    base = name[len(FLOAT_PREFIX):] if is_float_arch(name) else name
    return to_float(zoo.build(base, **kwargs))


def load_teacher(path) -> nn.Module:
    """A teacher from a bnnfpga checkpoint (binary zoo model or float model), in eval mode."""
    from .train import load_checkpoint

    model, _ = load_checkpoint(path, allow_float=True)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def check_teacher(teacher: nn.Module, x: torch.Tensor, classes: int, where: str = "teacher") -> None:
    """Run the teacher on a sample batch: its scores must be (N, classes)."""
    with torch.no_grad():
        try:
            out = teacher(x)
        except RuntimeError as e:
            raise ValueError(f"{where}: cannot run on the training images {tuple(x.shape[1:])} "
                             f"({str(e).splitlines()[0][:120]})") from None
    if out.dim() != 2 or out.shape[1] != classes:
        raise ValueError(f"{where}: gives scores of shape {tuple(out.shape[1:])}, the student has {classes} classes")
