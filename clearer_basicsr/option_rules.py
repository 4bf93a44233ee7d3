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

import collections.abc
import difflib
import inspect
import math
import types
import typing
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
        hint = 'YAML reads 1e-3 as a string: write 1.0e-3' if 'e' in value.lower() else 'write it without quotes'
        raise OptionError(f'{where} = {value!r}: expected a number, not a string ({hint})')
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


def check_component(registry: Any, where: str, options: Any, what: str, keywords: bool = True) -> Any:
    """A ``{type: ..., ...}`` entry: its type must be registered, and a class that owns rules
    (``check_options``) checks the rest; another (BasicSR's own) has its options checked against
    its signature: with ``keywords`` (built as ``cls(**options)``: networks, losses) each key must
    be one it takes and every argument it needs given (:func:`check_keywords`), and the keys are
    typed (:func:`check_argument_types`). Returns the class."""
    options = mapping(where, options, f'a mapping of {what} options with a type')
    cls = lookup(registry, key_path(where, 'type'), options.get('type'), what)
    if hasattr(cls, 'check_options'):
        cls.check_options(options, where)
    else:
        if keywords:
            check_keywords(cls, options, where)
        check_argument_types(cls, options, where)
    return cls


def check_keywords(func: Any, options: Mapping[str, Any], where: str, supplied: Iterable[str] = ()) -> None:
    """``func(*supplied, **options)`` (``type`` left out) names no keyword ``func`` does not take
    and leaves out none it needs: a typo or a missing key is named here, before a run, instead of
    a TypeError from the constructor once it has started."""
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return
    given = {k for k in options if k != 'type'}
    named = [p for p in params.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        known = [p.name for p in named if p.name not in supplied]
        for key in sorted(given - set(known)):
            name = getattr(func, '__name__', str(func))
            raise OptionError(f'{key_path(where, key)}: {name} takes no option {key!r}; {suggest(key, known)}')
    for p in named:
        if p.default is p.empty and p.name not in given and p.name not in supplied and p.name != 'self':
            raise OptionError(f"{where}: '{p.name}' is missing; {getattr(func, '__name__', func)} needs it")


def constructor_arguments(cls: type, options: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The arguments ``cls(**options)`` would get (``type`` left out), defaults filled in, as
    BasicSR's builders call a network or a loss; an unknown key is an OptionError."""
    params = inspect.signature(cls).parameters
    given = {k: v for k, v in options.items() if k != 'type'}
    check_keywords(cls, given, where)
    check_argument_types(cls, given, where)
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


# ----------------------------------------------------------------------------- typed pieces
# A section's schema maps its keys to typed pieces; check_keys checks the keys an option file
# gives (an absent key keeps its default). Pieces refuse what Python would take silently: the
# string 'false' (true, as every non-empty string), a list written as a string, a number written
# as a string, zero or negative counts and frequencies.


class Rule:
    """A typed piece: ``check(where, value)`` returns the value, or raises OptionError naming
    ``where``, the value and :attr:`expected`."""

    expected = 'a value'

    def check(self, where: str, value: Any) -> Any:
        return value


class Integer(Rule):
    """A whole number, at least ``minimum`` (1: a count, a size or a frequency)."""

    def __init__(self, minimum: int | None = None) -> None:
        self.minimum = minimum
        self.expected = (
            'a positive number'
            if minimum == 1
            else 'a whole number' + (f' >= {minimum}' if minimum is not None else '')
        )

    def check(self, where: str, value: Any) -> Any:
        result = number(where, value, positive=self.minimum == 1, integer=True)
        if self.minimum is not None and result < self.minimum:
            fail(where, value, self.expected)
        return value


class Real(Rule):
    """A finite number in ``[minimum, below)``."""

    def __init__(self, minimum: float | None = None, below: float | None = None, positive: bool = False) -> None:
        self.minimum, self.below, self.positive = minimum, below, positive
        self.expected = 'a positive number' if positive else 'a number'
        if minimum is not None:
            self.expected += f' >= {minimum:g}'
        if below is not None:
            self.expected += f' and < {below:g}'

    def check(self, where: str, value: Any) -> Any:
        result = number(where, value, positive=self.positive)
        if (self.minimum is not None and result < self.minimum) or (self.below is not None and result >= self.below):
            fail(where, value, self.expected)
        return value


class Boolean(Rule):
    expected = 'true or false'

    def check(self, where: str, value: Any) -> Any:
        if not isinstance(value, bool):
            if isinstance(value, str):  # bool('false') is True
                raise OptionError(
                    f'{where} = {value!r}: expected true or false, not a string (any text counts as true)'
                )
            fail(where, value, self.expected)
        return value


class Text(Rule):
    def __init__(self, allow_empty: bool = False) -> None:
        self.allow_empty = allow_empty
        self.expected = 'a string' if allow_empty else 'a non-empty string'

    def check(self, where: str, value: Any) -> Any:
        if not isinstance(value, str) or not (value or self.allow_empty):
            fail(where, value, self.expected)
        return value


class Choice(Rule):
    def __init__(self, *values: Any) -> None:
        self.values = values
        self.expected = f'one of {list(values)}'

    def check(self, where: str, value: Any) -> Any:
        return one_of(where, value, self.values)


class ListOf(Rule):
    """A list (YAML ``[a, b]``) whose items each pass ``item``."""

    def __init__(self, item: Rule | None = None) -> None:
        self.item = item or Rule()
        self.expected = 'a list' + (f', each item {self.item.expected}' if item is not None else '')

    def check(self, where: str, value: Any) -> Any:
        if isinstance(value, str):
            raise OptionError(
                f'{where} = {value!r}: expected {self.expected}, not a string (write the list without quotes)'
            )
        if not isinstance(value, (list, tuple)):
            fail(where, value, self.expected)
        for i, item in enumerate(value):
            self.item.check(f'{where}[{i}]', item)
        return value


class Maybe(Rule):
    """``~`` (None), or what ``rule`` takes."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.expected = f'{rule.expected} or ~'

    def check(self, where: str, value: Any) -> Any:
        return value if value is None else self.rule.check(where, value)


class AnyOf(Rule):
    """What one of ``rules`` takes (e.g. a count or 'auto')."""

    def __init__(self, *rules: Rule) -> None:
        self.rules = rules
        self.expected = ' or '.join(r.expected for r in rules)

    def check(self, where: str, value: Any) -> Any:
        for rule in self.rules:
            try:
                return rule.check(where, value)
            except OptionError:
                pass
        fail(where, value, self.expected)


class Section(Rule):
    """A mapping whose keys follow ``schema`` (see :func:`check_keys`)."""

    def __init__(self, schema: Mapping[str, Rule], expected: str = 'a mapping') -> None:
        self.schema, self.expected = schema, expected

    def check(self, where: str, value: Any) -> Any:
        check_keys(mapping(where, value, self.expected), self.schema, where)
        return value


def check_keys(options: Mapping[str, Any], schema: Mapping[str, Rule], where: str) -> None:
    """Checks each key of ``schema`` that ``options`` gives."""
    for key, rule in schema.items():
        if key in options:
            rule.check(key_path(where, key), options[key])


def _annotation_rule(annotation: Any) -> Rule | None:
    """The piece for a type annotation (int, float, bool, str, X | None, list / tuple /
    Sequence of X); None when it says nothing the pieces know."""
    # a signature's str may be empty (SwinIR's upsampler='' means none)
    simple = {bool: Boolean(), int: Integer(), float: Real(), str: Text(allow_empty=True)}
    if annotation in simple:
        return simple[annotation]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):  # tensors cannot come from YAML: left out
        inner = [a for a in args if a is not type(None) and not getattr(a, '__module__', '').startswith('torch')]
        if inner == [int, float] or inner == [float, int]:
            inner = [float]
        rule = _annotation_rule(inner[0]) if len(inner) == 1 else None
        return Maybe(rule) if rule is not None and len(inner) < len(args) else rule
    if origin in (list, tuple, collections.abc.Sequence) and args:
        return ListOf(_annotation_rule(args[0]))
    return None


def _default_rule(default: Any) -> Rule | None:
    """The piece for a parameter without annotation, from its default value's type."""
    if isinstance(default, (list, tuple)):
        kinds = {type(v) for v in default}
        return ListOf(_annotation_rule(kinds.pop()) if len(kinds) == 1 else None)
    if isinstance(default, int) and not isinstance(default, bool):
        return Real()  # weight_decay=0 takes 3e-4 too
    return _annotation_rule(type(default)) if default is not None else None


def check_argument_types(func: Any, given: Mapping[str, Any], where: str) -> None:
    """Each of ``given`` (keyword arguments of ``func``, a class or a function) has the type
    its annotation says, or else its default's type; unknown types pass."""
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return
    try:
        hints = typing.get_type_hints(func.__init__ if isinstance(func, type) else func)
    except Exception:  # annotations that do not resolve: the defaults still tell
        hints = {}
    for key, value in given.items():
        param = params.get(key)
        if key == 'type' or param is None:
            continue
        rule = _annotation_rule(hints[key]) if key in hints else None
        if rule is None and param.default is not inspect.Parameter.empty:
            rule = _default_rule(param.default)
        if rule is not None:
            rule.check(key_path(where, key), value)
