"""Off-chip weights in the HLS backend (docs/offchip-weights.md): weight streams as
hls::stream arguments of bnn_top, C simulation bit-exact with the test bench streaming
the weights ceil(frames / batch) times; projects without off-chip layers unchanged."""
import numpy as np
import pytest

from bnnfpga import random_net as rn
from bnnfpga.build import BuildError, generate as build_generate
from bnnfpga import boards
from bnnfpga.folding import LayerFold
from bnnfpga.golden import GoldenModel
from bnnfpga.hls import backend as hb
from bnnfpga.modelfile import dumps

from test_offchip import ALL_DRAM, HIDDEN_B2, dram_mlp


def test_hls_project_with_a_weight_stream():
    net = dram_mlp()
    files = hb.generate(net, HIDDEN_B2)
    top = files["bnn_top.cpp"]
    assert "hls::stream<ap_uint<16> >& w_fc1" in top and "#pragma HLS INTERFACE axis port=w_fc1" in top
    assert "bnn_mvtu_dram<4, 1, 4, 8, 8, 8, 2, 16>(s0_fc0, s1_fc1, w_fc1, fc1_t, fc1_neg, frames)" in top
    assert "variable=fc1_w" not in top and "bnn_dram.h" in files
    assert "#ifndef __SYNTHESIS__" in files["params_fc1.h"]  # the weights are not part of the synthesised design
    assert "#ifndef __SYNTHESIS__" not in files["params_fc0.h"]
    plain = hb.generate(net, {k: LayerFold(v.pe, v.simd) for k, v in HIDDEN_B2.items()})
    assert "bnn_dram.h" not in plain and "w_fc1" not in plain["bnn_top.cpp"] + plain["bnn_top.h"]


def test_hls_refuses_what_it_does_not_support():
    net = dram_mlp()
    with pytest.raises(hb.BackendError, match="fc1.*runtime_params"):
        hb.generate(net, HIDDEN_B2, runtime_params=True)
    # `bnnfpga build` gives DRAM layers a weight DMA (tests/test_build_dram.py) when the beat is a DMA stream width
    assert "axi_dma_w0" in build_generate(net, dumps(net), boards.get("pynq-z2"), HIDDEN_B2, name="x",
                                          clock_mhz=100.0)["project/vivado/build_bd.tcl"]
    odd = dict(HIDDEN_B2, fc_out=LayerFold(5, 8, weights="dram", batch=2))  # 40-bit beats
    with pytest.raises(BuildError, match="fc_out.*40-bit weight beats"):
        build_generate(net, dumps(net), boards.get("pynq-z2"), odd, name="x", clock_mhz=100.0)


@pytest.mark.csim
def test_hls_csim_offchip_layers_bit_exact_with_partial_batches():
    from bnnfpga.hls import csim

    net = dram_mlp(seed=3)
    images = rn.random_images(np.random.default_rng(4), net, 7)  # batches 3+3+1 and 2+2+2+1
    scores = csim.simulate(net, images, ALL_DRAM)
    np.testing.assert_array_equal(scores, GoldenModel(net).run(images))
