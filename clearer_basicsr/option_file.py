"""An option file as the plugin's entry points read it: BasicSR's ``parse_options``, made safe.

BasicSR's parser reads the YAML with a loader that builds Python objects (a
``!!python/object/apply`` tag runs code), seeds the random generators before it applies
``--force_yml`` (so ``manual_seed=N`` changes the log, not the run), reads values such as
``1e-3`` there as strings, and stops with a KeyError on a file that lacks a section. Here:

* the file is read as data (YAML's safe loader); any other tag is refused, naming file and line;
* ``--force_yml`` values are YAML values, ``1e-3`` read as a number; as in BasicSR, every key
  but the last must already be in the file;
* the random generators are seeded after the overrides, with the seed the log shows;
* an empty file, one that is not a mapping or one without a section the run reads is refused
  in one line.

What BasicSR's parser adds to the options (distributed settings, ranks, dataset phases, the
run's folders, the debug mode) is added the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import yaml

from .errors import UserInputError
from .option_rules import mapping, number

# What the run reads without a default (BasicSR stops with a KeyError without it).
EXPECTED = {
    'name': 'the run name (its folder under experiments/ or results/)',
    'num_gpu': 'the number of GPUs to use, or auto',
    'datasets': 'a mapping of datasets (train and val* to train, test* to test)',
    'network_g': 'the network: a mapping with its type',
    'path': 'a mapping of paths (pretrain_network_g, resume_state, ...; may be empty: {})',
    'train': 'the training options (optimisers, scheduler, total_iter, losses)',
    'logger': 'the logger options (print_freq, save_checkpoint_freq, use_tb_logger)',
    'val': 'the validation or test options (metrics, save_img, ...)',
}
REQUIRED_TO_TRAIN = ('name', 'num_gpu', 'datasets', 'network_g', 'path', 'train', 'logger')
REQUIRED_TO_TEST = ('name', 'num_gpu', 'datasets', 'network_g', 'path', 'val')
MAPPINGS = ('datasets', 'network_g', 'path', 'train', 'logger', 'val')


class _OverrideLoader(yaml.SafeLoader):
    """YAML's safe loader; also reads 1e-3 as a number (YAML 1.1 wants 1.0e-3) for --force_yml."""


_OverrideLoader.add_implicit_resolver(
    'tag:yaml.org,2002:float', re.compile(r'^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$'), list('-+0123456789.')
)


def _yaml_problem(err: yaml.YAMLError) -> str:
    """'line N: what is wrong' from a PyYAML error."""
    mark = getattr(err, 'problem_mark', None)
    where = f'line {mark.line + 1}: ' if mark is not None else ''
    problem = getattr(err, 'problem', None) or str(err)
    tag = re.search(r"constructor for the tag '([^']*)'", problem)
    if tag:
        name = tag.group(1).replace('tag:yaml.org,2002:', '!!')
        return (
            f'{where}the tag {name} is not allowed: option files are read as plain data (mappings, lists, '
            'strings, numbers, booleans; YAML standard tags such as !!float only)'
        )
    return f'{where}not valid YAML: {problem}'


def read_option_file(path: str) -> dict:
    """The mapping in a YAML option file, read as data; UserInputError naming the file (and the
    line) when it cannot be read, is not YAML, holds a tag that builds objects, or is no mapping."""
    try:
        with open(path, encoding='utf-8') as f:
            opt = yaml.load(f, Loader=yaml.SafeLoader)
    except OSError as err:
        raise UserInputError(f'{path}: cannot read the option file ({err.strerror or err})') from None
    except UnicodeDecodeError:
        raise UserInputError(f'{path}: not a text file; expected a YAML option file') from None
    except yaml.YAMLError as err:
        raise UserInputError(f'{path}: {_yaml_problem(err)}') from None
    if opt is None:
        raise UserInputError(f'{path}: the file is empty; expected a mapping of options (name, model_type, ...)')
    if not isinstance(opt, dict):
        raise UserInputError(
            f'{path}: holds a {type(opt).__name__}; expected a mapping of options (name: ..., model_type: ...)'
        )
    return opt


def override_value(text: str) -> Any:
    """A ``--force_yml`` value: YAML read as data (numbers, 1e-3 too; true/false; lists such as
    [1, 2]; ~), and ``none`` as BasicSR reads it; anything else stays the text."""
    if text.strip().lower() == 'none':
        return None
    try:
        return yaml.load(text, Loader=_OverrideLoader)
    except yaml.YAMLError as err:
        raise UserInputError(f'--force_yml value {text!r}: {_yaml_problem(err)}') from None


def apply_overrides(opt: dict, entries: Iterable[str]) -> None:
    """Applies ``--force_yml KEY:SUBKEY=VALUE`` entries to ``opt``. Every key but the last must
    exist and hold a mapping (as in BasicSR, only the last key may be new)."""
    for entry in entries:
        keys, sep, text = entry.partition('=')
        keys = [key.strip() for key in keys.split(':')]
        if not sep or not all(keys):
            raise UserInputError(f'--force_yml {entry!r}: expected KEY=VALUE, nested keys joined by colons (a:b=1)')
        node = opt
        for depth, key in enumerate(keys[:-1], 1):
            node = node.get(key)
            if not isinstance(node, dict):
                raise UserInputError(
                    f'--force_yml {entry!r}: {":".join(keys[:depth])} is not a section of the option file '
                    '(only the last key may be new)'
                )
        node[keys[-1]] = override_value(text.strip())


def check_sections(opt: Mapping[str, Any], is_train: bool) -> None:
    """The sections the run reads before the option check, with the type the parse needs."""
    for key in REQUIRED_TO_TRAIN if is_train else REQUIRED_TO_TEST:
        if key not in opt:
            raise UserInputError(f"'{key}' is missing; expected {EXPECTED[key]}")
    if not isinstance(opt['name'], str) or not opt['name'].strip():
        raise UserInputError(f'name = {opt["name"]!r}: expected {EXPECTED["name"]}')
    for key in MAPPINGS:
        if key in opt:
            mapping(key, opt[key], EXPECTED[key])
    if not opt['datasets']:
        raise UserInputError(f'datasets = {{}}: expected {"train and val* entries" if is_train else "test* entries"}')
    for name, dataset in opt['datasets'].items():
        mapping(f'datasets: {name}', dataset, 'a mapping of dataset options with a type')


@contextlib.contextmanager
def naming(path: str) -> Iterator[None]:
    """Bad input found inside the block is reported with ``path``, the file it came from."""
    try:
        yield
    except UserInputError as err:
        err.args = (f'{path}: {err}', *err.args[1:])
        raise


def seed_everything(opt: dict) -> None:
    """Seeds Python, NumPy and torch with ``manual_seed`` + rank (drawn when missing, as BasicSR
    does)."""
    from basicsr.utils import set_random_seed

    if opt.get('manual_seed') is None:
        opt['manual_seed'] = random.randint(1, 10000)
    set_random_seed(number('manual_seed', opt['manual_seed'], integer=True) + opt['rank'])


def parse_options(args: argparse.Namespace, root_path: str, is_train: bool) -> dict:
    """The options of ``args.opt`` with ``args.force_yml`` applied, completed as BasicSR's
    ``parse_options`` completes them; the random generators seeded. Not yet checked."""
    opt = read_option_file(args.opt)
    with naming(args.opt):
        apply_overrides(opt, args.force_yml or ())
        check_sections(opt, is_train)
        complete(opt, args, root_path, is_train)
    return opt


def parse_and_check(args: argparse.Namespace, root_path: str, is_train: bool) -> dict:
    """:func:`parse_options`, then the whole option check (:mod:`.options_check`)."""
    opt = parse_options(args, root_path, is_train)
    with naming(args.opt):
        from .options_check import check_options  # the runtime's checks: torch and BasicSR

        check_options(opt)
    return opt


def complete(opt: dict, args: argparse.Namespace, root_path: str, is_train: bool) -> None:
    """Adds what BasicSR's parser adds: distributed settings, seed, dataset phases, folders, debug mode."""
    import torch
    from basicsr.utils.dist_util import get_dist_info

    from .compat import init_dist

    opt['dist'] = args.launcher != 'none'
    if args.launcher == 'slurm' and 'dist_params' in opt:
        init_dist(args.launcher, **opt['dist_params'])
    elif opt['dist']:
        init_dist(args.launcher)
    opt['rank'], opt['world_size'] = get_dist_info()
    seed_everything(opt)
    opt['auto_resume'] = bool(getattr(args, 'auto_resume', False))
    opt['is_train'] = is_train
    opt['root_path'] = root_path
    if args.debug and not opt['name'].startswith('debug'):
        opt['name'] = 'debug_' + opt['name']
    if opt['num_gpu'] == 'auto':
        opt['num_gpu'] = torch.cuda.device_count()

    for name, dataset in opt['datasets'].items():
        dataset['phase'] = name.split('_')[0]  # val_1, val_2, test_1, ...
        if 'scale' in opt:
            dataset['scale'] = opt['scale']
        for key in ('dataroot_gt', 'dataroot_lq'):
            if dataset.get(key) is not None:
                dataset[key] = os.path.expanduser(dataset[key])
    for key, value in opt['path'].items():
        if value is not None and ('resume_state' in key or 'pretrain_network' in key):
            opt['path'][key] = os.path.expanduser(value)

    opt['path'].update(run_folders(root_path, opt['name'], is_train))
    if is_train and 'debug' in opt['name']:  # BasicSR's debug mode
        if 'val' in opt:
            opt['val']['val_freq'] = 8
        opt['logger']['print_freq'] = 1
        opt['logger']['save_checkpoint_freq'] = 8


def run_folders(root_path: str, name: str, is_train: bool) -> dict[str, str]:
    """The ``path:`` entries of a run's folders, as BasicSR names them: experiments/<name>/... for
    a training run, results/<name>/... for a test."""
    if not is_train:
        root = os.path.join(root_path, 'results', name)
        return {'results_root': root, 'log': root, 'visualization': os.path.join(root, 'visualization')}
    root = os.path.join(root_path, 'experiments', name)
    return {
        'experiments_root': root,
        'models': os.path.join(root, 'models'),
        'training_states': os.path.join(root, 'training_states'),
        'log': root,
        'visualization': os.path.join(root, 'visualization'),
    }


def seed_line(opt: Mapping[str, Any]) -> str:
    """The log line that says which seed the run used."""
    rank = f' + rank {opt["rank"]}' if opt['rank'] else ''
    return f'Random seed: manual_seed {opt["manual_seed"]}{rank} (after --force_yml)'
