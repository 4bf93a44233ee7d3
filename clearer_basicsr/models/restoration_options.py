"""The option keys a restoration model reads (``train:`` of a retrain, ``val:``), checked before
anything runs: the optimiser by its ``torch.optim`` name and signature, BasicSR's schedulers and
their keys, the losses, the metrics."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import torch
from basicsr.utils.registry import LOSS_REGISTRY, METRIC_REGISTRY

from .. import option_rules as rules
from .precision import AMP_CHOICES

BASICSR_SCHEDULERS = ('MultiStepLR', 'MultiStepRestartLR', 'CosineAnnealingRestartLR')  # BaseModel.setup_schedulers


def optimizer_class(type_name: Any, where: str) -> type:
    """The ``torch.optim`` optimiser named ``type_name`` (BasicSR 1.4.2 knows the Adam family only)."""
    optim_cls = getattr(torch.optim, type_name, None) if isinstance(type_name, str) else None
    if isinstance(optim_cls, type) and issubclass(optim_cls, torch.optim.Optimizer):
        return optim_cls
    names = sorted(
        n
        for n, c in vars(torch.optim).items()
        if isinstance(c, type) and issubclass(c, torch.optim.Optimizer) and n != 'Optimizer'
    )
    raise rules.OptionError(
        f'{where} = {type_name!r} is not a torch.optim optimizer; {rules.suggest(type_name, names)}'
    )


def check_optimizer_options(optim_opt: Any, where: str) -> None:
    """``{type: <torch.optim name>, lr: <positive>, ...}``, the others typed by the optimiser's signature."""
    optim_opt = rules.mapping(where, optim_opt, 'an optimiser, e.g. {type: Adam, lr: 1.0e-3}')
    optim_cls = optimizer_class(optim_opt.get('type'), rules.key_path(where, 'type'))
    rules.number(rules.key_path(where, 'lr'), optim_opt.get('lr'), positive=True)
    rules.check_keywords(optim_cls, optim_opt, where, supplied=('params',))
    rules.check_argument_types(optim_cls, optim_opt, where)


# The keys of train and val this model reads (besides optimisers, scheduler and losses).
TRAIN_KEYS = {
    'warmup_iter': rules.Integer(-1),
    'ema_decay': rules.Real(0, below=1),
    'grad_clip': rules.Real(0),
    'skip_nonfinite': rules.Boolean(),
    'identity_start': rules.Text(),
}
VAL_KEYS = {
    'val_freq': rules.Integer(1),
    'save_img': rules.Boolean(),
    'suffix': rules.Maybe(rules.Text()),
    'pbar': rules.Boolean(),
    'self_ensemble': rules.Boolean(),
    'pad_multiple': rules.Integer(1),
    'tile': rules.Boolean(),
    'recalibrate_bn': rules.Integer(0),
    'metrics': rules.Maybe(rules.Section({}, 'a mapping of metrics, each {type: calculate_psnr, ...}')),
}
METRIC_KEYS = {
    'crop_border': rules.Integer(0),
    'test_y_channel': rules.Boolean(),
    'better': rules.Choice('higher', 'lower'),
}
SCHEDULER_KEYS = {  # BasicSR's schedulers do not annotate these
    'milestones': rules.ListOf(rules.Integer(0)),
    'gamma': rules.Real(positive=True),
    'restarts': rules.ListOf(rules.Integer(0)),
    'restart_weights': rules.ListOf(rules.Real(0)),
    'periods': rules.ListOf(rules.Integer(1)),
    'eta_min': rules.Real(0),
}
SCHEDULER_REQUIRED = {
    'MultiStepLR': 'milestones',
    'MultiStepRestartLR': 'milestones',
    'CosineAnnealingRestartLR': 'periods',
}


def check_scheduler_options(scheduler: Mapping[str, Any], where: str) -> None:
    """A scheduler's keys: the one it needs, typed (:data:`SCHEDULER_KEYS`, else by its signature)."""
    from basicsr.models import lr_scheduler

    needed = SCHEDULER_REQUIRED.get(scheduler.get('type'))
    if needed is not None:
        rules.required(scheduler, needed, where, f'the iterations of the {scheduler["type"]} schedule, a list')
    rules.check_keys(scheduler, SCHEDULER_KEYS, where)
    # BaseModel.setup_schedulers builds MultiStepLR as BasicSR's MultiStepRestartLR
    name = {'MultiStepLR': 'MultiStepRestartLR'}.get(scheduler.get('type'), scheduler.get('type'))
    scheduler_cls = getattr(lr_scheduler, str(name), None)
    if scheduler_cls is not None:
        rules.check_keywords(scheduler_cls, scheduler, where, supplied=('optimizer',))
        rules.check_argument_types(
            scheduler_cls, {k: v for k, v in scheduler.items() if k not in SCHEDULER_KEYS}, where
        )


def check_model_options(model_cls: type, opt: Mapping[str, Any], where: str = '') -> None:
    """The keys a restoration model reads: ``train`` (when training, by ``model_cls``'s own
    ``check_train_options``) and ``val``."""
    if opt.get('is_train'):
        train = rules.mapping(
            rules.key_path(where, 'train'),
            opt.get('train'),
            'a train section (optim_g, scheduler, total_iter, pixel_opt, ...)',
        )
        model_cls.check_train_options(train, rules.key_path(where, 'train'))
    if isinstance(opt.get('val'), Mapping):
        model_cls.check_val_options(opt['val'], rules.key_path(where, 'val'))
        if opt['val'].get('recalibrate_bn') and not opt.get('is_train'):
            raise rules.OptionError(
                f'{rules.key_path(where, "val: recalibrate_bn")}: applies while training (it draws train '
                'batches); the nets a training run saved hold the recalibrated statistics already, remove it here'
            )
    rules.one_of(rules.key_path(where, 'channels_last'), opt.get('channels_last'), (None, 'auto', True, False))


def check_train_section(train: Mapping[str, Any], where: str) -> None:
    """The ``train:`` keys of a retrain: total_iter, optim_g, scheduler, losses, amp and :data:`TRAIN_KEYS`."""
    key = functools.partial(rules.key_path, where)
    rules.number(key('total_iter'), train.get('total_iter'), positive=True, integer=True)
    rules.check_keys(train, TRAIN_KEYS, where)
    check_optimizer_options(train.get('optim_g'), key('optim_g'))
    expected = f'a mapping with a type, one of {list(BASICSR_SCHEDULERS)}'
    scheduler = rules.mapping(key('scheduler'), train.get('scheduler'), expected)
    if scheduler.get('type') not in BASICSR_SCHEDULERS:
        name = scheduler.get('type')
        raise rules.OptionError(
            f'{key("scheduler: type")} = {name!r} is not a scheduler BasicSR sets up; '
            f'{rules.suggest(name, BASICSR_SCHEDULERS)}'
        )
    check_scheduler_options(scheduler, key('scheduler'))
    for loss in sorted(k for k, v in train.items() if k.endswith('_opt') and isinstance(v, Mapping)):
        rules.check_component(LOSS_REGISTRY, key(loss), train[loss], 'loss (LOSS_REGISTRY)')
    rules.one_of(key('amp'), train.get('amp'), AMP_CHOICES)


def check_val_section(val: Mapping[str, Any], where: str) -> None:
    """The ``val:`` keys: :data:`VAL_KEYS`, each metric's, amp."""
    key = functools.partial(rules.key_path, where)
    rules.check_keys({k: v for k, v in val.items() if v is not None}, VAL_KEYS, where)
    for name, metric in (val.get('metrics') or {}).items():
        metric = rules.mapping(key(f'metrics: {name}'), metric, 'a metric, e.g. {type: calculate_psnr, crop_border: 0}')
        metric_fn = rules.lookup(METRIC_REGISTRY, key(f'metrics: {name}: type'), metric.get('type'), 'metric')
        rules.check_keys(metric, METRIC_KEYS, key(f'metrics: {name}'))
        rules.check_argument_types(metric_fn, metric, key(f'metrics: {name}'))
    rules.one_of(key('amp'), val.get('amp'), AMP_CHOICES)
