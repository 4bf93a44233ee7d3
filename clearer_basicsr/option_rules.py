"""The pieces every component's ``check_options`` is built from.

Each registered class of the plugin owns the rules of its own options in a
``check_options(options, where)`` classmethod: ``options`` is the mapping that configures it
(a dataset entry, ``network_g``, a loss, or the whole file for a model) and ``where`` says where
that mapping sits in the file (``'datasets: train'``), so that every error is one line naming
the key, the value found and what was expected. The classes' constructors call the same
functions, so a rule is written once. :mod:`clearer_basicsr.options_check` runs them all
before anything is built. This module imports nothing of the package but its errors.
"""

from __future__ import annotations

import difflib
import inspect
import math
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

from .errors import UserInputError


class OptionError(UserInputError):
    """An option that cannot work; the message names where it is, its value and what was expected."""


class MissingPathError(OptionError, FileNotFoundError):
    """An option naming a file or folder that does not exist."""


def key_path(where: str, key: str) -> str:
    """``'datasets: train'`` and ``'sigma'`` -> ``'datasets: train: sigma'``."""
    return f'{where}: {key}' if where else key


def fail(where: str, value: Any, expected: str) -> NoReturn:
    raise OptionError(f'{where} = {value!r}: expected {expected}')


def required(options: Mapping[str, Any], key: str, where: str, expected: str) -> Any:
    if key not in options:
        raise OptionError(f"{where}: '{key}' is missing; expected {expected}")
    return options[key]


def one_of(where: str, value: Any, allowed: Iterable[Any]) -> Any:
    allowed = list(allowed)
    if value not in allowed:
        fail(where, value, f'one of {allowed}')
    return value


def mapping(where: str, value: Any, expected: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        fail(where, value, expected)
    return value


def number(where: str, value: Any, positive: bool = False, integer: bool = False) -> Any:
    """``value`` as a float (an int with ``integer``); OptionError naming ``where`` otherwise."""
    expected = 'a positive number' if positive else 'a number'
    if isinstance(value, bool) or value is None:
        fail(where, value, expected)
    if isinstance(value, str):  # BasicSR and torch take the value as it is: a string fails mid-way
        raise OptionError(
            f'{where} = {value!r}: expected a number, not a string (YAML reads 1e-3 as a string: write 1.0e-3)'
        )
    try:
        result = float(value)
    except (TypeError, ValueError):
        fail(where, value, 'a number')
    if not math.isfinite(result) or (positive and result <= 0):
        fail(where, value, 'a positive number' if positive else 'a finite number')
    if integer and result != int(result):
        fail(where, value, 'a whole number')
    return int(result) if integer else result


def at_least(where: str, value: Any, minimum: float, what: str, integer: bool = False) -> Any:
    """A number >= ``minimum``; the message calls it ``what`` ('a weight', 'a number of iterations')."""
    result = number(where, value, integer=integer)
    if result < minimum:
        fail(where, value, f'{what} >= {minimum:g}')
    return result


def suggest(name: Any, names: Iterable[str]) -> str:
    """'did you mean ...?' with the closest names (case-blind), else the list of known names."""
    names = list(names)
    by_lower = {n.lower(): n for n in names}
    close = [by_lower[n] for n in difflib.get_close_matches(str(name).lower(), list(by_lower), n=3, cutoff=0.6)]
    if close:
        return 'did you mean ' + ' or '.join(repr(n) for n in close) + '?'
    return f'known: {", ".join(names)}'


def lookup(registry: Any, where: str, type_name: Any, what: str) -> Any:
    """The object a BasicSR registry holds under ``type_name`` (BasicSR's ``get`` also finds
    ``<name>_basicsr`` entries); OptionError with the closest names when there is none."""
    if not isinstance(type_name, str) or not type_name:
        fail(where, type_name, f'the name of a registered {what}')
    for name in (type_name, f'{type_name}_basicsr'):
        if name in registry:
            return registry.get(name)
    names = sorted({name.removesuffix('_basicsr') for name in registry.keys()})
    raise OptionError(
        f'{where} = {type_name!r} is not a registered {what}; {suggest(type_name, names)} '
        '(the plugin registers its names when clearer_basicsr is imported)'
    )


def check_component(registry: Any, where: str, options: Any, what: str) -> Any:
    """A ``{type: ..., ...}`` entry: its type must be registered, and a class that owns rules
    (``check_options``) checks the rest. Returns the class."""
    options = mapping(where, options, f'a mapping of {what} options with a type')
    cls = lookup(registry, key_path(where, 'type'), options.get('type'), what)
    if hasattr(cls, 'check_options'):
        cls.check_options(options, where)
    return cls


def constructor_arguments(cls: type, options: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The arguments ``cls(**options)`` would get (``type`` left out), defaults filled in, as
    BasicSR's builders call a network or a loss; an unknown key is an OptionError."""
    params = inspect.signature(cls).parameters
    given = {k: v for k, v in options.items() if k != 'type'}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for key in given:
        if key not in params and not takes_any:
            raise OptionError(
                f'{key_path(where, key)}: {cls.__name__} has no option {key!r}; {suggest(key, list(params))}'
            )
    defaults = {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}
    return {**defaults, **given}


class ConstructorOptions:
    """For classes BasicSR builds as ``cls(**options)`` (networks, losses): their options are
    their constructor's arguments, checked by ``check_arguments(where, args)``, which the
    constructor calls too."""

    @classmethod
    def check_options(cls, options: Mapping[str, Any], where: str) -> None:
        cls.check_arguments(where, constructor_arguments(cls, options, where))

    @classmethod
    def check_arguments(cls, where: str, args: Mapping[str, Any]) -> None:
        """Raises OptionError naming ``where`` when the arguments cannot work together."""
