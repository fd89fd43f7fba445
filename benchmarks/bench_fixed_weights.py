"""Fixed-point weights (non-binary first / last layers): the cost of a bnn_mvtu_fw layer.

Generates small networks whose first dense layer (8-bit pixels x WB-bit weights: multiplier
lanes) and last dense layer (+-1 inputs x WB-bit weights: add/subtract lanes) have fixed-point
weights, synthesises each layer module (bnn_mvtu_fw + its weight / threshold memories) with
yosys synth_xilinx -family xc7, and prints yosys's LUT / FF / DSP next to the resource model's
estimate (bnnfpga.fixed_weights.mvtu_fw_estimate), plus the binary-weight layer of the same
shape for comparison.  Needs yosys (a few minutes).  ``--train``: accuracy on scikit-learn's
digits of small_cnn / mlp with binary vs 8-bit first and last layers (6 epochs, seconds).

    python benchmarks/bench_fixed_weights.py [--train]
"""
import sys

import numpy as np

from bnnfpga import fixed_weights as fw
from bnnfpga import resources as R
from bnnfpga.folding import LayerFold
from bnnfpga.ir import Dense, InputSpec, Network, Thresholds
from bnnfpga.rtl import backend

CASES = [  # (fan-in, hidden, classes, WB, PE/SIMD of the first layer, PE/SIMD of the last layer)
    (16, 8, 4, 8, (2, 4), (2, 8)),
    (16, 8, 4, 8, (4, 4), (4, 8)),
    (16, 8, 4, 4, (2, 4), (2, 4)),
    (64, 16, 8, 8, (4, 8), (4, 16)),
]


def network(n, hidden, classes, wb, fixed: bool):
    rng = np.random.default_rng(0)
    spec = InputSpec(1, n, 1)
    l0 = Dense("fc0", n, hidden, rng.integers(0, 2, (hidden, n), dtype=np.uint8), input_kind="fixed")
    l1 = Dense("fc1", hidden, classes, rng.integers(0, 2, (classes, hidden), dtype=np.uint8))
    l0.thresholds = Thresholds(rng.integers(-500, 500, hidden), np.ones(hidden, np.int8))
    net = Network("bench", spec, [l0, l1]).validate()
    if fixed:
        fw.random_fixed(rng, net, bits=wb)
    return net


def main():
    model = R.ResourceModel.load()
    print(f"{'layer':6} {'weights':>7} {'PE':>3} {'SIMD':>4} {'AW':>3} | {'yosys LUT':>9} {'FF':>5} {'DSP':>4} |"
          f" {'model LUT':>9} {'FF':>6} {'DSP':>5}")
    for n, hidden, classes, wb, f0, f1 in CASES:
        for fixed in (True, False):
            net = network(n, hidden, classes, wb, fixed)
            fold = {"fc0": LayerFold(*f0), "fc1": LayerFold(*f1)}
            files = backend.generate(net, fold)
            _, layers, _ = backend.plan(net, fold)
            for L, layer in zip(layers, net.compute_layers()):
                src = {k: v for k, v in files.items() if k.endswith(L.module + ".sv") or k.endswith("bnn_mvtu.sv")
                       or k.endswith("bnn_mvtu_fw.sv") or k == L.mem_file}
                src = {k.split("/", 1)[1] if k.startswith("rtl/") else k: v for k, v in src.items()}
                got = R.cells_to_resources(R.synthesize(src, L.module))
                est, _ = model.mvtu(R.mvtu_params(net, layer, fold[layer.name]))
                what = f"{wb}-bit" if fixed else "binary"
                print(f"{layer.name:6} {what:>7} {L.pe:>3} {L.simd:>4} {L.aw:>3} | {got.lut:>9.0f} {got.ff:>5.0f} "
                      f"{got.dsp:>4.0f} | {est.lut:>9.0f} {est.ff:>6.0f} {est.dsp:>5.0f}", flush=True)


def train_compare():
    from bnnfpga import export, golden, zoo
    from bnnfpga.data import load_dataset
    from bnnfpga.train import TrainConfig, train

    d = load_dataset("digits")
    for arch, kw in (("small_cnn", dict(channels=[16, "M", 32], fc=[64], padding="same")), ("mlp", dict(hidden=[128, 128]))):
        for fl in ("binary", "fixed"):
            model = zoo.build(arch, input_shape=[1, 8, 8], classes=10, first_last=fl, **kw)
            res = train(model, d.x_train, d.y_train, TrainConfig(epochs=6, batch_size=64, lr=1e-2, lr_end=1e-3),
                        d.x_test, d.y_test, progress=False)
            net = export.to_ir(model, (1, 8, 8))
            acc = (golden.predict_labels(golden.run(net, d.x_test)) == d.y_test).mean()
            print(f"{arch:10} first/last {fl:6}: torch test accuracy {res.test_accuracy:.4f}, golden {acc:.4f}", flush=True)


if __name__ == "__main__":
    train_compare() if "--train" in sys.argv else main()
