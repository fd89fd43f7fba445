"""`bnnfpga fold` / `report` with a binarized input, window SIMD (SIMD | K*K*C_in) and lut_pe;
one-line errors for illegal foldings (issue 7)."""
import json

from bnnfpga import cli, modelfile
from bnnfpga import folding as fo

from fold_models import conv_net


def test_fold_report_binarized_conv_with_window_simd(tmp_path, capsys):
    net = conv_net(1, 3, hw=8, channels=(8, 5), binarize=100)
    m = tmp_path / "m.bnn"
    modelfile.save(net, m)
    out = tmp_path / "f.json"
    assert cli.main(["fold", str(m), "--lanes", "32", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "conv0 window" in text and "swg" in text and "frames/s" in text
    f = fo.load(out, net)
    assert "swg" in {s.kind for s in fo.stage_cycles(net, f)}  # a SIMD that does not divide C_in was chosen
    assert cli.main(["report", str(m), "--folding", str(out), "-o", str(tmp_path / "rep")]) == 0
    rep = (tmp_path / "rep" / "report.txt").read_text()
    assert "conv0 window" in rep
    # a folding file with lut_pe round-trips through report
    data = json.loads(out.read_text())
    data["fc"]["lut_pe"] = data["fc"]["pe"]
    (tmp_path / "g.json").write_text(json.dumps(data))
    assert cli.main(["report", str(m), "--folding", str(tmp_path / "g.json"), "-o", str(tmp_path / "rep2")]) == 0
    assert json.loads((tmp_path / "rep2" / "folding.json").read_text())["fc"]["lut_pe"] == data["fc"]["pe"]


def test_illegal_foldings_give_one_line_errors(tmp_path, capsys):
    net = conv_net(1, 3, hw=8, channels=(8, 5), binarize=100)
    m = tmp_path / "m.bnn"
    modelfile.save(net, m)
    good = {"conv0": {"pe": 2, "simd": 9}, "conv1": {"pe": 1, "simd": 12}, "fc": {"pe": 1, "simd": 1}}
    for patch, msg in ((("conv1", {"pe": 1, "simd": 7}), "layer 'conv1': SIMD=7 divides neither its 8 input channels "
                                                          "nor its window of 3x3x8 = 72 bits"),
                       (("conv0", {"pe": 2, "simd": 9, "lut_pe": 3}), "layer 'conv0': lut_pe must be an integer in [0, PE=2]"),
                       (("fc", {"pe": 1, "simd": 1, "x": 1}), "expected {\"pe\": int, \"simd\": int}")):
        bad = dict(good)
        bad[patch[0]] = patch[1]
        p = tmp_path / "bad.json"
        p.write_text(json.dumps(bad))
        assert cli.main(["report", str(m), "--folding", str(p), "-o", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err.strip()
        assert msg in err and "\n" not in err, err
