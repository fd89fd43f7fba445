"""torch (eval) == golden model: thresholds, accumulators, hidden bits and predictions."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from bnnfpga import export, golden, ir, zoo
from bnnfpga.nn import BatchNorm, BinaryLinear, BinaryActivation, bn_eval


def randomize_bn(model, gen: torch.Generator, scale=10.0):
    """Random BatchNorm statistics: means around the accumulator scale, negative gammas,
    tiny and zero variances, zero gammas."""
    for m in model.modules():
        if isinstance(m, BatchNorm):
            c = m.num_features
            m.running_mean.copy_((torch.rand(c, generator=gen) - 0.5) * 2 * scale)
            var = torch.rand(c, generator=gen) * scale
            var[torch.rand(c, generator=gen) < 0.05] = 0.0
            m.running_var.copy_(var)
            g = torch.randn(c, generator=gen)
            g[torch.rand(c, generator=gen) < 0.05] = 0.0
            m.weight.data.copy_(g)
            m.bias.data.copy_(torch.randn(c, generator=gen))


def random_torch_model(seed):
    rng = np.random.default_rng(seed)
    alpha = bool(rng.random() < 0.5)
    stochastic = bool(rng.random() < 0.3)
    zp = int(rng.choice([0, 128]))
    if rng.random() < 0.5:
        c, h = int(rng.choice([1, 3])), int(rng.integers(2, 7))
        kw = dict(input_shape=[c, h, h], hidden=[int(v) for v in rng.choice([4, 16, 33, 64], size=rng.integers(1, 4))],
                  classes=int(rng.choice([2, 5, 10])), alpha=alpha, stochastic=stochastic, zero_point=zp, frac_bits=7)
        model = zoo.build("mlp", **kw)
    else:
        c, h = int(rng.choice([1, 2, 3])), int(rng.choice([6, 8]))
        pad = str(rng.choice(["same", "valid"]))
        chans = [int(rng.choice([4, 8])), "M", int(rng.choice([4, 16]))] if pad == "same" or h == 8 else [int(rng.choice([4, 8])), int(rng.choice([4, 16]))]
        kw = dict(input_shape=[c, h, h], channels=chans, fc=[int(v) for v in rng.choice([8, 32], size=rng.integers(0, 2))],
                  classes=int(rng.choice([3, 10])), padding=pad, alpha=alpha, stochastic=stochastic, zero_point=zp, frac_bits=7)
        model = zoo.build("small_cnn", **kw)
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (BinaryLinear,)) or hasattr(m, "kernel_size") and hasattr(m, "use_alpha"):
            m.weight.data.uniform_(-1, 1, generator=gen)
    randomize_bn(model, gen, scale=float(rng.choice([2.0, 10.0, 40.0])))
    return model.eval(), kw


def assert_torch_equals_golden(model, input_shape, images):
    net = export.to_ir(model, tuple(input_shape))
    logits, taccs = export.torch_trace(model, images)
    traces = golden.GoldenModel(net).trace(images)
    gaccs = [t.acc for t in traces if t.acc is not None]
    assert len(taccs) == len(gaccs)
    for i, (a, b) in enumerate(zip(taccs, gaccs)):
        np.testing.assert_array_equal(a, b, err_msg=f"accumulators of compute layer {i}")
    np.testing.assert_array_equal(logits.argmax(1), golden.predict_labels(traces[-1].out))
    # scores are the integer dot products: logits / scale
    scale = float(torch.exp(model[-1].log_scale.detach()))
    np.testing.assert_array_equal(np.rint(logits / scale).astype(np.int64), traces[-1].out)
    return net


@pytest.mark.parametrize("seed", range(60))
def test_random_torch_networks_bit_exact(seed):
    model, kw = random_torch_model(seed)
    c, h, w = kw["input_shape"]
    rng = np.random.default_rng(1000 + seed)
    images = rng.integers(0, 256, (64, h, w, c), dtype=np.uint8)
    if c == 1 and seed % 2:
        images = images[..., 0]  # (N, H, W) input form
    assert_torch_equals_golden(model, kw["input_shape"], images)


def test_hidden_bits_match_torch_sign_outputs():
    model, kw = random_torch_model(5)
    c, h, w = kw["input_shape"]
    images = np.random.default_rng(0).integers(0, 256, (32, h, w, c), dtype=np.uint8)
    outs = []
    hooks = [m.register_forward_hook(lambda mod, i, o: outs.append(o.detach().numpy())) for m in model.modules()
             if isinstance(m, BinaryActivation)]
    with torch.no_grad():
        model(export.images_to_tensor(images))
    for hk in hooks:
        hk.remove()
    net = export.to_ir(model, tuple(kw["input_shape"]))
    traces = golden.GoldenModel(net).trace(images)
    gbits = [t.out for t, l in zip(traces, net.layers) if getattr(l, "thresholds", None) is not None]
    assert len(outs) == len(gbits)
    for o, g in zip(outs, gbits):
        o = o.transpose(0, 2, 3, 1) if o.ndim == 4 else o
        np.testing.assert_array_equal((o > 0).astype(np.uint8), g)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 300), c=st.integers(1, 6), fixed=st.booleans(), alpha=st.booleans(),
       seed=st.integers(0, 2**31 - 1), mean_scale=st.sampled_from([0.0, 1.0, 30.0]),
       gamma_kind=st.sampled_from(["pos", "neg", "mixed", "zero"]), var_kind=st.sampled_from(["normal", "zero", "tiny"]))
def test_fold_thresholds_equals_torch_on_every_accumulator(n, c, fixed, alpha, seed, mean_scale, gamma_kind, var_kind):
    """Property: for every accumulator value in range, threshold compare == torch's sign(BN(alpha*dot))."""
    gen = torch.Generator().manual_seed(seed)
    layer = BinaryLinear(n, c, alpha=alpha, input_kind="fixed" if fixed else "binary")
    layer.weight.data.uniform_(-1, 1, generator=gen)
    bn = BatchNorm(c).eval()
    bn.running_mean.copy_(torch.randn(c, generator=gen) * mean_scale)
    bn.running_var.copy_({"normal": torch.rand(c, generator=gen) * 20, "zero": torch.zeros(c),
                          "tiny": torch.full((c,), 1e-9)}[var_kind])
    g = torch.randn(c, generator=gen).abs() + 0.01
    g = {"pos": g, "neg": -g, "mixed": g * torch.where(torch.rand(c, generator=gen) < 0.5, -1.0, 1.0),
         "zero": torch.zeros(c)}[gamma_kind]
    bn.weight.data.copy_(g)
    bn.bias.data.copy_(torch.randn(c, generator=gen))
    frac = 7
    lo, hi = (-128 * n, 128 * n) if fixed else (0, n)
    th = export.fold_thresholds(layer, bn, lo, hi, n, frac)
    acc = torch.arange(lo, hi + 1).view(-1, 1).expand(-1, c)
    dot = acc.float() * 2.0 ** -frac if fixed else (2 * acc - n).float()
    y = dot * layer.alpha().detach().view(1, -1) if alpha else dot
    want = (bn_eval(y, bn) >= 0).numpy().astype(np.uint8)
    got = th.apply(acc.numpy())
    np.testing.assert_array_equal(got, want)
    if gamma_kind == "neg" and not alpha:
        assert np.all((th.direction == -1) | (th.t < lo) | (th.t > hi) | (th.t == lo) | (th.t == hi))


def test_export_refuses_unsupported_models():
    from bnnfpga.nn import InputQuant, Flatten, BNNSequential

    m = BNNSequential(InputQuant(), Flatten(), BinaryLinear(4, 3, input_kind="fixed"), torch.nn.ReLU(), BinaryLinear(3, 2))
    with pytest.raises(export.ExportError, match="sign activation"):
        export.to_ir(m, (1, 2, 2))
    m = BNNSequential(Flatten(), BinaryLinear(4, 2, input_kind="fixed"))
    with pytest.raises(export.ExportError, match="InputQuant"):
        export.to_ir(m, (1, 2, 2))
    m = BNNSequential(InputQuant(), Flatten(), BinaryLinear(4, 3, input_kind="fixed"), torch.nn.BatchNorm1d(3), BinaryActivation(), BinaryLinear(3, 2))
    with pytest.raises(export.ExportError, match="bnnfpga.nn.BatchNorm"):
        export.to_ir(m, (1, 2, 2))


def test_zoo_shapes():
    m = zoo.build("cnv")
    net = export.to_ir(m, (3, 32, 32))
    shapes = [o for _, o in net.shapes()]
    assert shapes[:3] == [(30, 30, 64), (28, 28, 64), (14, 14, 64)]
    assert shapes[-4:] == [(256,), (512,), (512,), (10,)] or shapes[-3:] == [(512,), (512,), (10,)]
    bn = zoo.build("binarynet_cnn", width=0.5)
    net = export.to_ir(bn, (3, 32, 32))
    assert [l.out_channels for l in net.compute_layers()] == [64, 64, 128, 128, 256, 256, 512, 512, 10]
    for width in (64, 256, 1024, 2048, 4096):
        m = zoo.build("mlp", hidden=[width, width], classes=10)
        assert export.to_ir(m, (1, 28, 28)).compute_layers()[1].in_features == width
