"""The table of column candidates: what a column of the CLEARER search space can be.

A candidate is a module over all branches of a cell: it takes the list of branch feature maps
(highest resolution first) and returns a list of the same shapes. Each has a name (used in
option files and ``genotype.yml``) and a short code (used in compact genotype strings such as
``'P F S P | N G P P'``). A search space is a list of names (``network_g: candidates``); a
candidate's index in that list is its logit index in the supernet.

Register a candidate with :func:`register_candidate`, on a class (or any callable) that takes
the branch channels, e.g.::

    @register_candidate('dense', code='D', summary='two 3x3 convs per branch')
    class Dense(nn.Module):
        def __init__(self, channels: Sequence[int]): ...
        def forward(self, branches: list[torch.Tensor]) -> list[torch.Tensor]: ...

The networks build candidates by name from this table; a user's module is imported by the
network itself when named under ``network_g: candidate_modules`` (see README: "Your own
candidates"). A module may define ``init_weights()``: the network calls it after its own
initialisation (conv weights N(0, init_std), BatchNorm 1/0), so a block with its own scheme
keeps it.

This module imports nothing of the package but the option pieces.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..option_rules import OptionError, fail, suggest

DEFAULT_CANDIDATES = ('parallel', 'fusion')
"""The paper's space: every column chooses between these two."""

DRAWINGS = ('branch', 'exchange', 'identity')
"""How genotype.png draws a candidate: a block on every branch, lines across the scales, nothing."""

_NAME = re.compile(r'[a-z][a-z0-9_]*\Z')
_CODE = re.compile(r'[A-Za-z][A-Za-z0-9]{0,2}\Z')


@dataclass(frozen=True)
class Candidate:
    """One entry of the table. ``build(channels)`` makes the module for a column over branches
    with ``channels``."""

    name: str
    code: str
    build: Callable[[Sequence[int]], Any]
    drawing: str
    summary: str


_TABLE: dict[str, Candidate] = {}


def _same_definition(a: Any, b: Any) -> bool:
    """The same class, or the same class of a module imported again (tests, reloads)."""
    return a is b or (
        getattr(a, '__module__', None) == getattr(b, '__module__', None)
        and getattr(a, '__qualname__', None) == getattr(b, '__qualname__', None)
    )


def register_candidate(
    name: str, code: str, drawing: str = 'branch', summary: str = ''
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Class decorator: adds the class to the candidate table as ``name`` with compact code ``code``.

    Args:
        name: lower-case identifier used in option files and genotype.yml, e.g. ``'dense'``.
        code: 1 to 3 letters or digits, starting with a letter, used in compact strings
            (case-blind); it must differ from every other candidate's code and name.
        drawing: how genotype.png draws the column: ``'branch'`` (a block on every branch),
            ``'exchange'`` (features cross the scales) or ``'identity'`` (nothing happens).
        summary: a few words for legends and tables.

    Raises:
        ValueError: a malformed name or code, or one taken by another candidate.
    """
    if not isinstance(name, str) or not _NAME.match(name) or name in ('stem', 'transition', 'head'):
        raise ValueError(
            f'candidate name {name!r}: expected a lower-case identifier such as "dense" (not stem, transition, head)'
        )
    if not isinstance(code, str) or not _CODE.match(code):
        raise ValueError(f'candidate {name!r}: code {code!r}: expected 1 to 3 letters or digits, the first a letter')
    if drawing not in DRAWINGS:
        raise ValueError(f'candidate {name!r}: drawing {drawing!r}: expected one of {list(DRAWINGS)}')

    def decorate(build: Callable[..., Any]) -> Callable[..., Any]:
        old = _TABLE.get(name)
        if old is not None and not _same_definition(old.build, build):
            raise ValueError(f'candidate {name!r} is already registered by {old.build.__module__}; choose another name')
        for other in _TABLE.values():
            if other.name == name:
                continue
            taken = {other.code.lower(), other.name}
            if code.lower() in taken or name in taken:
                raise ValueError(
                    f'candidate {name!r} (code {code!r}) clashes with {other.name!r} (code {other.code!r}): '
                    'names and codes must all differ'
                )
        _TABLE[name] = Candidate(name, code, build, drawing, summary)
        return build

    return decorate


def registered() -> tuple[str, ...]:
    """Names of every registered candidate, in registration order."""
    return tuple(_TABLE)


def candidate(name: str) -> Candidate:
    """The table entry of ``name``; ValueError naming the registered candidates otherwise."""
    if name not in _TABLE:
        raise ValueError(f'{name!r} is not one of the registered candidates: {known()}')
    return _TABLE[name]


def known() -> str:
    """'parallel (P), fusion (F), ...': every registered candidate and its code, for messages."""
    return ', '.join(f'{c.name} ({c.code})' for c in _TABLE.values())


def name_of(token: Any) -> Any:
    """The candidate name a full name or a code stands for (case-blind); anything else unchanged."""
    if isinstance(token, str):
        text = token.strip()
        for c in _TABLE.values():
            if text.lower() in (c.name, c.code.lower()):
                return c.name
    return token


def code_of(name: str) -> str:
    return candidate(name).code


def import_candidate_modules(where: str, modules: Any) -> None:
    """Imports each module named in ``modules`` (``network_g: candidate_modules``), which registers
    the candidates it defines; one OptionError naming the module otherwise."""
    if modules is None:
        return
    if isinstance(modules, str) or not isinstance(modules, Sequence):
        fail(where, modules, 'a list of importable module names, e.g. [my_package.my_candidates]')
    for module in modules:
        if not isinstance(module, str) or not module:
            fail(where, module, 'an importable module name, e.g. my_package.my_candidates')
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise OptionError(
                f'{where}: {module!r} cannot be imported ({type(err).__name__}: {err}); expected a module on '
                'the Python path that registers candidates with register_candidate'
            ) from None


def check_candidates(where: str, value: Any) -> tuple[str, ...]:
    """A search space, ``network_g: candidates``: at least 2 different registered names (codes
    are accepted). Returns the names."""
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) < 2:
        fail(where, value, f'a list of at least 2 candidate names (registered: {known()})')
    names = tuple(name_of(v) for v in value)
    for given, name in zip(value, names):
        if name not in _TABLE:
            hint = suggest(given, _TABLE)
            raise OptionError(
                f'{where}: {given!r} is not a registered candidate; '
                + (f'{hint} ' if hint.startswith('did you mean') else '')
                + f'(registered: {known()}; a candidate of your own: name its module under network_g: '
                'candidate_modules)'
            )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        fail(where, list(value), f'each candidate once ({repeated[0]!r} is named twice)')
    return names
