"""Data-driven random BatchNorm statistics for zoo networks in tests (no training needed)."""
import torch
from bnnfpga import nn as bnn
from bnnfpga.export import images_to_tensor

def calibrate_bn(model, images, seed=0):
    """Random BatchNorm statistics set from the data: per channel, the mean is a random quantile (60..95%)
    of the channel's pre-BN values on ``images`` (so that a sign gives 5..40% ones and max-pools keep
    variety), the variance is the values' variance; gamma's sign is random (negative for 20%)."""
    g = torch.Generator().manual_seed(seed)
    x = images_to_tensor(images)
    model.eval()
    for bn in [m for m in model.modules() if isinstance(m, bnn.BatchNorm)]:
        got = {}
        h = bn.register_forward_pre_hook(lambda m, inp: got.setdefault("x", inp[0].detach()))
        with torch.no_grad():
            model(x)
        h.remove()
        v = got["x"].transpose(0, 1).reshape(bn.num_features, -1).to(torch.float64)
        c = bn.num_features
        q = 0.6 + 0.35 * torch.rand(c, generator=g, dtype=torch.float64)
        neg = torch.rand(c, generator=g) < 0.2
        q = torch.where(neg, 1 - q, q)
        with torch.no_grad():
            bn.running_mean.copy_(torch.stack([torch.quantile(v[i], float(q[i])) for i in range(c)]).float())
            bn.running_var.copy_((v.var(dim=1) + 1.0).float())
            gam = 0.2 + 0.8 * torch.rand(c, generator=g)
            bn.weight.copy_(torch.where(neg, -gam, gam))
            bn.bias.copy_(0.05 * (torch.rand(c, generator=g) - 0.5))
    return model
