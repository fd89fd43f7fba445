"""Golden-model throughput (images/s) on the LFC-sized MLP (784-1024-1024-1024-10) and the
CNV-sized ConvNet (3x32x32, 64-64-MP-128-128-MP-256-256, FC 512-512-10), each next to PyTorch
float inference of the same network on the same machine, measured in the same run.

    python benchmarks/bench_golden.py [--images 2000] [--threads 2]

Both networks have random weights and BatchNorm statistics (throughput does not depend on
training); the script also checks that both give the same predictions.
"""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bnnfpga import export, golden, zoo  # noqa: E402
from bnnfpga.nn import BatchNorm  # noqa: E402


def randomize(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, BatchNorm):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g) * 5)
            m.running_var.copy_(torch.rand(c, generator=g) * 20 + 1)
            m.weight.data.copy_(torch.randn(c, generator=g))
            m.bias.data.copy_(torch.randn(c, generator=g))
    return model.eval()


def timeit(fn, reps):
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def bench(name, model, shape_chw, n, batch):
    c, h, w = shape_chw
    net = export.to_ir(model, shape_chw)
    x = np.random.default_rng(0).integers(0, 256, (n, h, w, c), dtype=np.uint8)
    gm = golden.GoldenModel(net)
    xt = export.images_to_tensor(x)
    sec_g = timeit(lambda: gm.run(x, batch=batch), 1)

    def torch_run():
        with torch.no_grad():
            for s in range(0, n, batch):
                model(xt[s : s + batch])

    sec_t = timeit(torch_run, 1)
    agree = float((golden.predict_labels(gm.run(x[:200])) == export.torch_predict(model, x[:200])).mean())
    print(f"{name:4s} golden model {n / sec_g:10.1f} images/s | torch float32 {n / sec_t:10.1f} images/s | "
          f"golden/torch = {sec_t / sec_g:5.2f}x | predictions agree {100 * agree:.1f}%")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--cnv-images", type=int, default=200)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    print(f"torch threads: {torch.get_num_threads()}; numpy {np.__version__}; golden model is single-threaded numpy")
    bench("LFC", randomize(zoo.build("mlp", input_shape=[1, 28, 28], hidden=[1024] * 3)), (1, 28, 28), a.images, a.batch)
    bench("CNV", randomize(zoo.build("cnv")), (3, 32, 32), a.cnv_images, min(a.batch, 64))
    print("anchor: BNN-PYNQ on the board's ARM cores in software: LFC 17,189 us/image (58 images/s), CNV 418,664 us/image (2.4 images/s)")


if __name__ == "__main__":
    main()
