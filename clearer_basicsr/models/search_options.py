"""The options of CLEARER's searches (``train:`` keys besides a retrain's): those both read, the
DARTS search's (:data:`DARTS_KEYS`) and the one-shot search's, and the helpers that read them: the
logit schedule, the Gumbel temperatures, the arch split's dataset options."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import torch
from basicsr.models import lr_scheduler as basicsr_schedulers
from basicsr.utils.registry import ARCH_REGISTRY, LOSS_REGISTRY

from .. import option_rules as rules
from ..archs.candidates import DEFAULT_CANDIDATES
from ..archs.complexity import MAX_ENUMERATED
from .budget import budget_section
from .restoration_options import check_optimizer_options, check_scheduler_options

ARCH_UPDATES = ('first_order', 'second_order')
ARCH_SAMPLINGS = ('softmax', 'gumbel')
GDAS_TAU = (10.0, 0.1)
BN_MODES = ('eval', 'train')
DARTS_KEYS = (  # train: keys only the DARTS search reads
    'arch_loss',
    'optim_arch',
    'scheduler_arch',
    'arch_warmup_iter',
    'arch_update',
    'arch_bn_mode',
    'arch_sampling',
    'gumbel_tau',
)
LOADER_KEYS = ('batch_size_per_gpu', 'num_worker_per_gpu', 'gt_size', 'use_hflip', 'use_rot')
DEFAULT_OPTIM_ARCH = {'type': 'Adam', 'lr': 3e-4, 'betas': (0.5, 0.999), 'weight_decay': 0.0}


def scheduler_class(type_name: Any, where: str) -> type:
    """A BasicSR or torch LR scheduler class by name (``train: scheduler_arch: type``)."""
    cls = getattr(basicsr_schedulers, str(type_name), None) or getattr(torch.optim.lr_scheduler, str(type_name), None)
    if isinstance(cls, type):
        return cls
    names = sorted(
        {n for n in dir(basicsr_schedulers) if n.endswith('LR')}
        | {n for n in dir(torch.optim.lr_scheduler) if n.endswith('LR') and not n.startswith('_')}
    )
    raise rules.OptionError(
        f'{where} = {type_name!r} is neither a BasicSR nor a torch LR scheduler; {rules.suggest(type_name, names)}'
    )


def build_scheduler(sched_opt: Mapping[str, Any] | None, optimizer: torch.optim.Optimizer) -> Any:
    """A BasicSR (or torch) LR scheduler from ``{type: ..., ...}``; None: constant."""
    if not sched_opt:
        return basicsr_schedulers.MultiStepRestartLR(optimizer, milestones=[])
    sched_opt = dict(sched_opt)
    return scheduler_class(sched_opt.pop('type'), 'train: scheduler_arch: type')(optimizer, **sched_opt)


def gumbel_temperatures(train: Mapping[str, Any], where: str) -> tuple[float, float]:
    """``train: gumbel_tau`` as (start, end): a number, or [start, end] linear over total_iter."""
    given = train.get('gumbel_tau', GDAS_TAU)
    tau = [given, given] if isinstance(given, (int, float)) else given
    if (
        not isinstance(tau, (list, tuple))
        or len(tau) != 2
        or not all(isinstance(t, (int, float)) and not isinstance(t, bool) and t > 0 for t in tau)
    ):
        rules.fail(
            rules.key_path(where, 'gumbel_tau'), given, 'a temperature > 0 or [start, end] (linear over total_iter)'
        )
    return float(tau[0]), float(tau[1])


def arch_dataset_options(opt: Mapping[str, Any]) -> dict[str, Any] | None:
    """``train: arch_dataset`` as the search builds it: the loader keys it lacks taken from
    ``datasets: train``, phase 'train' (BasicSR's parser sets phases only under ``datasets``)."""
    arch_opt = (opt.get('train') or {}).get('arch_dataset')
    if not isinstance(arch_opt, Mapping):
        return None
    arch_opt = dict(arch_opt)
    train_set = (opt.get('datasets') or {}).get('train') or {}
    for key in LOADER_KEYS:
        if key not in arch_opt and key in train_set:
            arch_opt[key] = train_set[key]
    arch_opt.update(phase='train', name=arch_opt.get('name', 'arch'))
    if 'scale' in opt:
        arch_opt['scale'] = opt['scale']
    return arch_opt


def check_search_train(train: Mapping[str, Any], where: str) -> None:
    """The ``train:`` keys both searches read besides those of a retrain: the arch split, the budget."""
    if not train.get('arch_dataset'):
        rules.fail(
            rules.key_path(where, 'arch_dataset'),
            train.get('arch_dataset'),
            'the held-apart split the architecture is chosen on '
            '(any BasicSR dataset options, e.g. a GaussianNoiseDataset on an arch.lmdb)',
        )
    budget_section(train, where)


def check_darts_train(train: Mapping[str, Any], where: str) -> None:
    """The ``train:`` keys of the DARTS search: the logits' loss, optimiser, schedule and step."""
    key = functools.partial(rules.key_path, where)
    section, arch_loss = budget_section(train, where)
    rules.check_component(LOSS_REGISTRY, key('arch_loss'), arch_loss, 'loss (LOSS_REGISTRY)')
    if section is None and (arch_loss.get('lambda_comp') or 0) > 0 and not arch_loss.get('complexity'):
        raise rules.OptionError(
            f'{key("arch_loss: lambda_comp")} = {arch_loss["lambda_comp"]!r} needs a complexity metric (complexity: '
            f'flops or params), or a budget under {key("budget")}'
        )
    check_optimizer_options(train.get('optim_arch') or DEFAULT_OPTIM_ARCH, key('optim_arch'))
    if train.get('scheduler_arch'):
        schedule = rules.mapping(key('scheduler_arch'), train['scheduler_arch'], 'a mapping with a type')
        scheduler_cls = scheduler_class(schedule.get('type'), key('scheduler_arch: type'))
        check_scheduler_options(schedule, key('scheduler_arch'))
        rules.check_argument_types(scheduler_cls, schedule, key('scheduler_arch'))
    warmup = train.get('arch_warmup_iter', 0)
    warmup = rules.at_least(key('arch_warmup_iter'), warmup, 0, 'a number of iterations', integer=True)
    total = train.get('total_iter')
    if isinstance(total, int) and warmup >= total:
        rules.fail(
            key('arch_warmup_iter'),
            warmup,
            f'fewer iterations than total_iter = {total} (the logits learn only after the warm-up: a search '
            'that never steps them derives its genotype from their random start)',
        )
    update = rules.one_of(key('arch_update'), train.get('arch_update', 'first_order'), ARCH_UPDATES)
    rules.one_of(key('arch_bn_mode'), train.get('arch_bn_mode', 'eval'), BN_MODES)
    sampling = rules.one_of(key('arch_sampling'), train.get('arch_sampling', 'softmax'), ARCH_SAMPLINGS)
    if sampling == 'gumbel':
        if update != 'first_order':
            raise rules.OptionError(
                f'{key("arch_sampling")} = gumbel needs arch_update: first_order (the '
                'unrolled step would compare losses of different samples)'
            )
        gumbel_temperatures(train, where)
    if update == 'second_order' and train.get('amp') == 'fp16':
        raise rules.OptionError(f'{key("arch_update")} = second_order does not support amp: fp16 (use bf16 or none)')


ONE_SHOT_DEFAULTS = {  # train: one_shot: keys
    'calibration_batches': 20,  # train batches the BatchNorm statistics are recalibrated on, per genotype
    'score_batches': 8,  # arch-split batches a genotype is scored on
    'batch_size': 16,  # of both
    'cap': 512,  # genotypes scored at most; a larger window is searched by evolution
    'population': 32,  # at most cap (a smaller cap given alone shrinks the first population to it)
    'mutation': 0.1,  # the chance that a child's column draws a new candidate
    'ranking': 20,  # best genotypes kept in genotype.yml
}
ONE_SHOT_KEYS = {
    'calibration_batches': rules.Integer(1),
    'score_batches': rules.Integer(1),
    'batch_size': rules.Integer(1),
    'cap': rules.Integer(1),
    'population': rules.Integer(2),
    'mutation': rules.Real(0, below=1),
    'ranking': rules.Integer(1),
}


def check_one_shot_train(train: Mapping[str, Any], where: str) -> None:
    """``train: one_shot``, the one-shot search's selection settings."""
    key = functools.partial(rules.key_path, where)
    settings = rules.mapping(key('one_shot'), train.get('one_shot') or {}, 'a mapping of one-shot settings')
    for name in settings:
        if name not in ONE_SHOT_KEYS:
            raise rules.OptionError(
                f'{key("one_shot: " + str(name))} is not a one-shot setting; {rules.suggest(name, ONE_SHOT_KEYS)}'
            )
    rules.check_keys(settings, ONE_SHOT_KEYS, key('one_shot'))
    cap = settings.get('cap', ONE_SHOT_DEFAULTS['cap'])
    if 'population' in settings and settings['population'] > cap:  # only a population the file gives
        rules.fail(key('one_shot: population'), settings['population'], f'at most cap = {cap}')


def check_search_network(opt: Mapping[str, Any], where: str = '', enumerated: bool = False) -> None:
    """``network_g`` must be a supernet; a search that lists genotypes (``enumerated``: one-shot
    selection) needs a space small enough to list."""
    net_opt = opt.get('network_g') or {}
    net_cls = rules.lookup(ARCH_REGISTRY, rules.key_path(where, 'network_g: type'), net_opt.get('type'), 'network')
    if not hasattr(net_cls, 'arch_parameters'):
        raise rules.OptionError(
            f'{rules.key_path(where, "network_g: type")} = {net_opt.get("type")!r}: expected a network with '
            f'architecture logits (e.g. CLEARERSearchNet) for model_type {opt.get("model_type")}'
        )
    macro = [k for k in ('widths', 'num_cells') if net_opt.get(k)]
    if macro and not enumerated:
        raise rules.OptionError(
            f'{rules.key_path(where, "network_g: " + macro[0])}: the macro space is searched by model_type: '
            f'CLEAREROneShotModel; {opt.get("model_type")} (DARTS) searches the candidates only '
            '(docs/search.md says why)'
        )
    batch = (opt.get('datasets') or {}).get('train', {}).get('batch_size_per_gpu')
    if macro and isinstance(batch, int) and batch % 4:
        raise rules.OptionError(
            f'{rules.key_path(where, "datasets: train: batch_size_per_gpu")} = {batch}: expected a multiple of 4 with '
            f'network_g: {macro[0]} (each step trains four subnets, each on a quarter of the batch)'
        )
    if enumerated:
        where = rules.key_path(where, 'network_g')
        check_one_shot_space(rules.constructor_arguments(net_cls, net_opt, where), where)


def check_one_shot_space(args: Mapping[str, Any], where: str) -> None:
    """A one-shot selection lists its cost window, so the space must be small enough to enumerate
    (in the macro space, every shape's genotypes: widths^(cells + 1) x candidates^columns summed
    over the choices of the number of cells)."""
    candidates = args.get('candidates') or DEFAULT_CANDIDATES
    most = len(args['branch_channels']) - 1
    widths = len(args.get('widths') or (1,))
    cells = sorted(set(args.get('num_cells') or (most,)))
    total = sum(widths ** (c + 1) * len(candidates) ** (c * args['columns_per_cell']) for c in cells)
    if total > MAX_ENUMERATED:
        columns = most * args['columns_per_cell']
        macro = widths > 1 or len(cells) > 1
        count = f'{total:,}' if macro else f'{len(candidates)}^{columns}'
        raise rules.OptionError(
            f'{where}: {len(candidates)} candidates over {columns} columns'
            + (f', {widths} widths per branch and cells {cells}' if macro else '')
            + f' make {count} genotypes, more than a one-shot selection enumerates ({MAX_ENUMERATED:,}); '
            'expected fewer candidates, columns or widths, or model_type: CLEARERSearchModel (DARTS)'
        )
