"""`bnnfpga build MODEL --board B -o OUT`: a PYNQ overlay folder (HLS project, Vivado block
design, driver metadata; the bitstream too when Vivado is on PATH).

Exit status: 0 bitstream built; 3 (bnnfpga.build.EXIT_NEEDS_VIVADO) project written but
Vivado/Vitis HLS are not on PATH, so no bitstream; 2 user error; 1 a tool failed."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("build", help="build a PYNQ overlay (bitstream when Vivado is on PATH; otherwise the project)",
                       description=__doc__)
    p.add_argument("model", help="model file")
    p.add_argument("--board", required=True, help="target board (see overlays/boards.json: pynq-z1, pynq-z2, "
                                                  "ultra96-v2, zcu104, kv260)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="overlay folder to write (its name is the "
                                                                         "base name of .bit/.hwh/.json)")
    from .sim_cli import add_folding_args

    add_folding_args(p)  # default: the optimizer's fastest folding that fits --board
    p.add_argument("--clock-mhz", type=float, help="fabric clock (default: the board's)")
    p.add_argument("--top-k", type=int, default=1, help="labels the accelerator emits after the scores (default 1)")
    p.add_argument("--no-tools", action="store_true", help="write the project only, even when Vivado is on PATH")
    p.set_defaults(func=_build)


def _build(args) -> int:
    from .build import EXIT_NEEDS_VIVADO, BuildError, build
    from .cli import UserError
    from .sim_cli import load_model, resolve_folding

    net = load_model(args.model)
    fold = resolve_folding(net, args)
    if not 1 <= args.top_k <= net.num_classes:
        raise UserError(f"--top-k must be in [1, {net.num_classes}], got {args.top_k}")
    try:
        res = build(args.model, args.board, args.output, folding=fold, clock_mhz=args.clock_mhz, top_k=args.top_k,
                    run_tools=False if args.no_tools else None)
    except BuildError as e:
        msg = str(e)
        if "failed (exit status" in msg or "wrote no" in msg:
            import sys

            print(f"bnnfpga build: error: {msg}", file=sys.stderr)
            return 1
        raise UserError(msg) from None
    meta = res.metadata
    if res.status == "bitstream":
        print(f"overlay ready: {res.out_dir}/{res.name}.bit, {res.name}.hwh, {res.name}.json")
        return 0
    print(f"wrote the overlay project {res.out_dir}/ ({res.name}.json, {res.name}.bnn, project/) "
          f"for {meta['board']} at {meta['clock_mhz']:g} MHz")
    if res.dry_run is not None:
        print(f"checked vivado/build_bd.tcl under tclsh: {len(res.dry_run.cells)} cells, "
              f"{len(res.dry_run.intf_nets)} interface connections, {len(res.dry_run.nets)} nets")
    print("NO BITSTREAM: vitis_hls/vivado_hls and vivado are not on PATH" if not args.no_tools
          else "NO BITSTREAM: --no-tools given")
    print("finish it on a machine with Vivado (and the board files) with:")
    for c in res.commands:
        print(f"  {c}")
    return EXIT_NEEDS_VIVADO
