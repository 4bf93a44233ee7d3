"""Measured latency of every candidate of every column (a latency table, as FBNet's and
ProxylessNAS'), on the device a search runs on.

Each candidate is timed in place: a forward of a fresh supernet of the preset records the inputs
every column (and the stem, each transition, the head) receives at a ``size`` x ``size`` input
(batch 1, eval mode, the memory format the model trains in), then each part runs on its own input
``WARMUP`` times untimed and ``RUNS`` times timed (the device synchronised before each clock read)
in each of ``ROUNDS`` passes over every shape of the table. Its cost is the fastest of its timed
runs, in milliseconds: other work on the machine only ever adds time, and spread over the passes,
a slow spell of the machine falls on all shapes alike instead of on the one timed during it.
The sum of a genotype's parts misses what lies between them (memory traffic, the calls);
benchmarks/latency_table.py measures how far.

A table is keyed by the device, the thread count, the torch version, the size and the preset, and
written beside the run (``latency_table.json``); a later run with the same key reads it instead
of timing again, another key measures afresh, and a resumed run keeps its own.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..files import atomic_write
from .clearer_arch import CLEARERNet, CLEARERSearchNet
from .complexity import preset_numbers
from .widths import shape_view

TABLE = 'latency_table.json'
ROUNDS, RUNS, WARMUP = 4, 5, 2  # passes over every shape; timed runs of each part per pass; untimed before them
Part = str | tuple[int, int]  # a fixed part's name, or (column, candidate index)


def table_key(net: CLEARERSearchNet | CLEARERNet, size: int, device: torch.device, channels_last: bool) -> dict:
    """What a table's timings depend on; a table of another key is measured afresh."""
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' else platform.processor() or platform.machine()
    preset = {k: list(v) if isinstance(v, tuple) else v for k, v in preset_numbers(net).items()}
    macro = getattr(net, 'macro', None)
    if macro is not None:  # a macro space's table holds every shape's
        preset.update(widths=list(macro.multipliers), num_cells=list(macro.num_cells))
    return {
        'device': f'{device.type} ({name})',
        'threads': torch.get_num_threads(),
        'torch': torch.__version__,
        'size': int(size),
        'channels_last': bool(channels_last),
        'preset': preset,
    }


def run_times(run: Callable[[], Any], device: torch.device, repeats: int, warmup: int) -> list[float]:
    """The wall times of ``repeats`` runs of ``run()`` in milliseconds, after ``warmup`` untimed runs."""
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        run()
        sync()
        times.append((time.perf_counter() - start) * 1000)
    return times


def measure(net: CLEARERSearchNet | CLEARERNet, size: int, device: torch.device, channels_last: bool) -> dict[str, Any]:
    """The table of ``net``'s preset: ``columns`` (per column, cell-major, each candidate's ms in
    the preset's candidate order) and ``fixed`` (stem, transitions, head), under ``key``."""
    (timed,) = time_shapes([net], size, device, channels_last)
    return {'key': table_key(net, size, device, channels_last), 'unit': unit(size), **timed}


def time_shapes(nets: Sequence[Any], size: int, device: torch.device, channels_last: bool) -> list[dict[str, Any]]:
    """``columns`` and ``fixed`` of each preset in ``nets``, timed in ``ROUNDS`` passes over all of
    them, each part the fastest of its runs."""
    makers = [functools.partial(_parts, net, size, device, channels_last) for net in nets]
    return [_table_parts({part: round(ms, 4) for part, ms in t.items()}) for t in fastest_in_rounds(makers, device)]


@torch.no_grad()
def fastest_in_rounds(
    makers: Sequence[Callable[[], dict[Any, Callable[[], Any]]]], device: torch.device, runs: int | None = None
) -> list[dict[Any, float]]:
    """The fastest time of every run each maker builds, in ``ROUNDS`` passes over all makers: in
    each, a maker builds its runs afresh (``{name: run}``) and each runs ``WARMUP`` times untimed,
    then ``runs`` (default ``RUNS``) times timed. A slow spell of the machine falls on all alike."""
    times: list[dict[Any, list[float]]] = [{} for _ in makers]
    for _ in range(ROUNDS):
        for make, timed in zip(makers, times):
            for name, ms in _time_once(make(), device, runs or RUNS).items():
                timed.setdefault(name, []).extend(ms)
    return [{name: min(ms) for name, ms in timed.items()} for timed in times]


def _time_once(runs: dict[Any, Callable[[], Any]], device: torch.device, repeats: int) -> dict[Any, list[float]]:
    """``repeats`` timed runs of each of ``runs`` after ``WARMUP``; what the runs hold is released on return."""
    return {name: run_times(run, device, repeats, WARMUP) for name, run in runs.items()}


def _parts(net: Any, size: int, device: torch.device, channels_last: bool) -> dict[Part, Callable[[], Any]]:
    """A fresh supernet of ``net``'s preset, each part bound to the input it receives in a forward:
    the fixed parts by name, each candidate of each column by (column, candidate index)."""
    with torch.random.fork_rng(devices=[]):  # a fresh net: never the caller's weights or random stream
        supernet = CLEARERSearchNet(**preset_numbers(net)).eval().to(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    supernet = supernet.to(memory_format=fmt)
    inputs: dict[torch.nn.Module, Any] = {}
    parts = [supernet.stem, *supernet.transitions, *supernet.columns, supernet.head]

    def keep_input(module: torch.nn.Module, args: tuple) -> None:  # None: the call's arguments stay
        inputs.setdefault(module, args[0])

    hooks = [p.register_forward_pre_hook(keep_input) for p in parts]
    seeded = torch.Generator().manual_seed(0)  # the caller's random streams stay untouched
    x = torch.rand(1, supernet.in_channels, size, size, generator=seeded).to(device, memory_format=fmt)
    try:
        supernet(x)
    finally:
        for hook in hooks:
            hook.remove()

    def bound(module: Callable[[Any], Any], part: torch.nn.Module) -> Callable[[], Any]:
        return lambda: module(inputs[part])

    runs: dict[Part, Callable[[], Any]] = {'stem': bound(supernet.stem, supernet.stem)}
    for t, transition in enumerate(supernet.transitions):
        runs[f'transition {t + 1}'] = bound(transition, transition)
    runs['head'] = bound(supernet.head, supernet.head)
    for c, column in enumerate(supernet.columns):
        runs.update({(c, k): bound(column[name], column) for k, name in enumerate(supernet.candidates)})
    return runs


def _table_parts(fastest: dict[Part, float]) -> dict[str, Any]:
    """The table's ``columns`` (lists in column, then candidate order) and ``fixed`` of a preset's parts."""
    columns: dict[int, list[float]] = {}
    for part, ms in fastest.items():
        if isinstance(part, tuple):
            columns.setdefault(part[0], []).append(ms)
    fixed = {part: ms for part, ms in fastest.items() if isinstance(part, str)}
    return {'columns': list(columns.values()), 'fixed': fixed}


def unit(size: int) -> str:
    return f'ms per forward of one {size}x{size} input, the fastest of {ROUNDS * RUNS} runs in {ROUNDS} rounds'


def macro_latency_table(
    net: CLEARERSearchNet, size: int, device: torch.device, channels_last: bool, folder: str | None, keep: bool = False
) -> dict[str, Any]:
    """The table of every shape of ``net``'s macro space (:mod:`.widths`): under ``shapes``, per
    shape named 'cells index:width digits' (e.g. '1:0-2-1'), its columns and fixed parts as :func:`measure` times
    them at those widths, all shapes in the same rounds. Read from ``folder`` and kept as :func:`latency_table` does."""
    found = _read(folder, table_key(net, size, device, channels_last), keep)
    if found:
        return found
    shapes = list(net.macro.shapes())
    views = [shape_view(net, [net.macro.channels(b, w) for b, w in enumerate(widths)]) for _, widths in shapes]
    timed = time_shapes(views, size, device, channels_last)
    return {
        'key': table_key(net, size, device, channels_last),
        'unit': unit(size),
        'shapes': {shape_name(cells_index, widths): t for (cells_index, widths), t in zip(shapes, timed)},
    }


def shape_name(cells_index: int, widths: tuple[int, ...]) -> str:
    return f'{cells_index}:{"-".join(map(str, widths))}'


def _read(folder: str | None, key: dict, keep: bool) -> dict[str, Any] | None:
    path = os.path.join(folder, TABLE) if folder else None
    if path and os.path.isfile(path):
        with open(path, encoding='utf-8') as f:
            table = json.load(f)
        if keep or table.get('key') == key:
            return table
    return None


def latency_table(
    net: CLEARERSearchNet | CLEARERNet,
    size: int,
    device: torch.device,
    channels_last: bool,
    folder: str | None,
    keep: bool = False,
) -> dict[str, Any]:
    """The table in ``folder`` where its key is this one's (with ``keep``, a resumed run's, whatever
    its key: the run's budget stays the one it started with), else measured afresh. Nothing is
    written here: :func:`write_table` does, once the run's folder exists."""
    return _read(folder, table_key(net, size, device, channels_last), keep) or measure(net, size, device, channels_last)


def write_table(table: dict[str, Any], folder: str) -> None:
    """``table`` into ``folder``/latency_table.json, unless it is there already."""
    path = os.path.join(folder, TABLE)
    if os.path.isfile(path):
        with open(path, encoding='utf-8') as f:
            if json.load(f) == table:
                return
    with atomic_write(path) as out:
        json.dump(table, out, indent=1)
