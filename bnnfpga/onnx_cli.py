"""`bnnfpga import MODEL.onnx -o MODEL.bnn` and `bnnfpga export-onnx MODEL.bnn -o MODEL.onnx`."""
from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("import", help="import a binarized ONNX/QONNX/FINN model (e.g. exported by Brevitas) into a model file")
    p.add_argument("onnx", metavar="MODEL.onnx")
    p.add_argument("-o", "--output", metavar="MODEL.bnn", help="model file to write (default: MODEL.bnn next to the input)")
    p.add_argument("--zero-point", type=int, default=None,
                   help="pixels p map to the graph input as (p - zero_point) * 2**-frac_bits "
                        "(default: from the graph's 8-bit input Quant, else 128)")
    p.add_argument("--frac-bits", type=int, default=None, help="see --zero-point (default: from the graph, else 7)")
    p.add_argument("--name", default=None, help="network name (default: the file name)")
    p.add_argument("--classes", default=None, help="comma-separated class names")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the output path")
    p.set_defaults(func=_import)

    p = sub.add_parser("export-onnx", help="export a model file to ONNX (onnxruntime/netron) or QONNX")
    p.add_argument("model", metavar="MODEL.bnn")
    p.add_argument("-o", "--output", metavar="MODEL.onnx", help="ONNX file to write (default: MODEL.onnx next to the input)")
    p.add_argument("--format", choices=["onnx", "qonnx"], default="onnx",
                   help="onnx: Sign/MatMul/Conv, runs in onnxruntime (default); qonnx: BipolarQuant nodes (FINN/QONNX tools)")
    p.set_defaults(func=_export)


def _import(args) -> int:
    from .modelfile import save
    from .onnx_import import import_onnx

    classes = [c.strip() for c in args.classes.split(",")] if args.classes else None
    net, report = import_onnx(args.onnx, zero_point=args.zero_point, frac_bits=args.frac_bits, name=args.name, classes=classes)
    out = Path(args.output) if args.output else Path(args.onnx).with_suffix(".bnn")
    save(net, out)
    if not args.quiet:
        print(report)
    print(f"wrote {out}")
    return 0


def _export(args) -> int:
    from .modelfile import load
    from .onnx_export import export_onnx

    net = load(args.model)
    out = Path(args.output) if args.output else Path(args.model).with_suffix(".onnx")
    export_onnx(net, out, fmt=args.format)
    print(f"wrote {out} ({args.format}, {len(net.compute_layers())} compute layers; "
          f"input x = (p - {net.input.zero_point}) * 2**-{net.input.frac_bits}, NCHW float32; output: integer scores)")
    return 0
