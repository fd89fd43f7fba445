"""`bnnfpga compile MODEL -o OUT`: generate the HLS C++ project of a model file."""
from __future__ import annotations

import time


def register(sub) -> None:
    from ..sim_cli import add_folding_args

    p = sub.add_parser("compile", help="generate the HLS C++ accelerator (Vivado/Vitis HLS project) of a model")
    p.add_argument("model", help="model file")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="project folder to write")
    add_folding_args(p)
    p.add_argument("--top-k", type=int, default=1, help="labels emitted after the scores (default 1)")
    p.add_argument("--runtime-params", action="store_true",
                   help="weights/thresholds in RAMs loadable through the do_init registers")
    p.add_argument("--test-frames", type=int, default=4, help="random test frames written to tv/ (default 4)")
    p.set_defaults(func=_compile)


def _compile(args) -> int:
    from ..cli import UserError
    from ..sim_cli import load_model, resolve_folding
    from .backend import BackendError, compile_project

    net = load_model(args.model)
    fold = resolve_folding(net, args)
    if args.test_frames < 1:
        raise UserError(f"--test-frames must be positive, got {args.test_frames}")
    t0 = time.perf_counter()
    try:
        plan = compile_project(net, fold, args.output, top_k=args.top_k, runtime_params=args.runtime_params,
                               test_frames=args.test_frames)
    except BackendError as e:
        raise UserError(str(e)) from None
    print(plan.cycles_table())
    if net.is_graph:  # shortcut networks: the analytical FIFO depths (bnnfpga.fifo_depth)
        print(plan.fifo_table())
    print(f"wrote {args.output} ({len(plan.stages)} stages, {len(plan.params)} compute layers) "
          f"in {time.perf_counter() - t0:.2f} s")
    return 0
