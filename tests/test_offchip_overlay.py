"""Off-chip weights through the overlay driver (docs/offchip-weights.md): the driver
allocates and fills one DRAM buffer per off-chip layer and streams it ceil(N / batch)
times per run; the emulated board (runtime "sim") hands those buffers to the emulated
DRAM of the RTL simulation."""
import numpy as np
import pytest

from bnnfpga import metadata as md
from bnnfpga import boards
from bnnfpga.golden import GoldenModel
from bnnfpga.modelfile import dumps
from bnnfpga.overlay import AcceleratorTimeout, Classifier

from test_offchip import ALL_DRAM, HIDDEN_B2, dram_mlp
from bnnfpga import random_net as rn


def test_metadata_records_offchip_layers_and_old_metadata_is_unchanged():
    net = dram_mlp()
    meta = md.make(net, dumps(net), HIDDEN_B2, name="m", board=boards.get("pynq-z2"), clock_mhz=100.0)
    assert meta["dram_weights"] == {"fc1": {"ip": "axi_dma_w0", "port": "s_axis_w_layer_fc1", "batch": 2,
                                            "bytes_per_pass": 128, "beat_bits": 16}}
    assert meta["folding"]["fc1"] == {"pe": 4, "simd": 4, "weights": "dram", "batch": 2}
    assert md.folding_of(md.validate(meta)) == HIDDEN_B2
    plain = {k: type(v)(v.pe, v.simd) for k, v in HIDDEN_B2.items()}
    old = md.make(net, dumps(net), plain, name="m", board=boards.get("pynq-z2"), clock_mhz=100.0)
    assert "dram_weights" not in old and old["folding"]["fc1"] == {"pe": 4, "simd": 4}
    bad = dict(meta, folding=dict(meta["folding"], fc1={"pe": 4, "simd": 4, "weights": "hbm", "batch": 2}))
    with pytest.raises(md.MetadataError, match="fc1"):
        md.validate(bad)


@pytest.mark.cosim
def test_sim_runtime_fills_and_streams_the_weight_buffers():
    net = dram_mlp()
    images = rn.random_images(np.random.default_rng(5), net, 7)  # fc1: batches 2+2+2+1, 4 passes; fc0, fc_out: 3
    clf = Classifier(net, runtime="sim", folding=ALL_DRAM)  # the design of test_offchip (its build is reused)
    r = clf.classify_batch(images)
    np.testing.assert_array_equal(r.scores, GoldenModel(net).run(images))
    drv, emu = clf._driver, clf._driver.ol.emulation
    assert drv.dram.left == {"fc0": 0, "fc1": 0, "fc_out": 0} and emu.wleft == drv.dram.left
    assert sorted(clf._driver.ol.ip_dict) == ["axi_dma_0", "axi_dma_w0", "axi_dma_w1", "axi_dma_w2", "bnn_frames_0",
                                              "bnn_top_0"]
    buf = drv.dram.buffers["fc1"]
    # the buffer holds one weight image (128 bytes) per pass of the run: one transfer per layer
    assert buf.nbytes == 4 * 128 and buf.flushed >= 1 and emu.wdma["fc1"].sendchannel.idle
    assert drv.dram.copies == {"fc0": 3, "fc1": 4, "fc_out": 3} and drv.dram.transfers == 3

    # the accelerator computes with what the driver put in DRAM: inverted weights in the
    # buffer give the scores of the network with inverted fc1 weights
    buf[:] = ~np.asarray(buf)
    inv = dram_mlp()
    inv.layers[1].weights = 1 - inv.layers[1].weights
    r2 = clf.classify_batch(images[:3])
    np.testing.assert_array_equal(r2.scores, GoldenModel(inv).run(images[:3]))
    clf.close()
    assert buf.freed


@pytest.mark.cosim
def test_a_driver_that_stops_streaming_weights_times_out_with_a_message():
    net = dram_mlp()
    images = rn.random_images(np.random.default_rng(6), net, 5)
    import bnnfpga.overlay_dram as od

    old, od.MAX_BUFFER_BYTES = od.MAX_BUFFER_BYTES, 1  # one pass per transfer
    try:
        clf = Classifier(net, runtime="sim", folding=ALL_DRAM, timeout_s=1.0)
    finally:
        od.MAX_BUFFER_BYTES = old
    clf._driver.dram.service = lambda: None  # never re-queues the weight buffers
    with pytest.raises(AcceleratorTimeout, match="weight passes not sent: fc0: 1 pass.*fc1: 2 pass"):
        clf.classify_batch(images)


@pytest.mark.cosim
def test_capped_buffers_carry_several_passes_per_transfer(monkeypatch):
    """With room for 2 weight images per buffer, a 7-frame run needs ceil(passes / 2)
    transfers per layer (fc0 3 passes -> 2 transfers, fc1 4 -> 2, fc_out 3 -> 2), and
    the scores stay exact."""
    import bnnfpga.overlay_dram as od

    net = dram_mlp()
    images = rn.random_images(np.random.default_rng(5), net, 7)
    meta = md.make(net, dumps(net), ALL_DRAM, name="m", board=boards.get("pynq-z2"), clock_mhz=100.0)
    sizes = {n: e["bytes_per_pass"] for n, e in meta["dram_weights"].items()}
    monkeypatch.setattr(od, "MAX_BUFFER_BYTES", 2 * max(sizes.values()))
    clf = Classifier(net, runtime="sim", folding=ALL_DRAM)
    r = clf.classify_batch(images)
    np.testing.assert_array_equal(r.scores, GoldenModel(net).run(images))
    drv = clf._driver
    assert drv.dram.copies == {n: min(p, 2 * max(sizes.values()) // sizes[n])
                               for n, p in {"fc0": 3, "fc1": 4, "fc_out": 3}.items()}
    want = sum(-(-p // drv.dram.copies[n]) for n, p in {"fc0": 3, "fc1": 4, "fc_out": 3}.items())
    assert drv.dram.transfers == want and want > 3
    assert drv.dram.left == {"fc0": 0, "fc1": 0, "fc_out": 0}
    clf.close()
