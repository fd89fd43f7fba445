"""The board database (overlays/boards.json): FPGA part, processing system, default clock,
LUT/FF/BRAM/URAM/DSP budgets, nominal DRAM bandwidth and the board files Vivado needs."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict

BOARDS_FILE = Path(__file__).resolve().parent.parent / "overlays" / "boards.json"


class BoardError(ValueError):
    """Unknown board or a malformed board database."""


@dataclass(frozen=True)
class Board:
    name: str
    display_name: str
    part: str
    family: str
    ps: str
    board_part: str
    board_files: str
    default_clock_mhz: float
    lut: int
    ff: int
    bram36: int
    uram: int
    dsp: int
    dram_bytes_per_s: int
    hp_port_bits: int


@lru_cache(maxsize=None)
def all_boards() -> Dict[str, Board]:
    try:
        data = json.loads(BOARDS_FILE.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise BoardError(f"{BOARDS_FILE}: cannot read the board database ({e})") from None
    out = {}
    for name, fields in data["boards"].items():
        try:
            out[name] = Board(name=name, **fields)
        except TypeError as e:
            raise BoardError(f"{BOARDS_FILE}: board '{name}': {e}") from None
    return out


def get(name: str) -> Board:
    boards = all_boards()
    key = name.lower().replace("_", "-")
    if key not in boards:
        raise BoardError(f"unknown board '{name}' (known: {', '.join(sorted(boards))})")
    return boards[key]
