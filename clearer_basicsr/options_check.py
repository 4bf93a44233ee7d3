"""Checks a parsed BasicSR option dict before anything is built, trained or written.

A search runs for hours; a typo in the YAML file should cost seconds. :func:`check_options`
is a dispatcher: it looks every ``type:`` up in its BasicSR registry and asks the class to check
its own options (``check_options``, see :mod:`.option_rules`): the model (``model_type``)
checks ``train`` and ``val``, each network its ``network_*`` entry, each dataset its entry.
What remains here are the checks across components:

* the channels every dataset gives match the input channels of ``network_g``;
* training patches (``gt_size``) fit the network (CLEARER: a multiple of 2^(branches - 1)) and
  the smallest training image (read from LMDB ``meta_info.txt`` shapes or image headers);
* a training split a model adds (the search's ``train: arch_dataset``) shares no image with
  ``datasets: train``.

It reads only the options, the registries and the data folders' listings; it builds no dataset
and no network, and raises one :class:`.option_rules.OptionError` (a ValueError) naming the key,
the value found and what was expected. The plugin's entry points run it before making any
folder (:func:`clearer_basicsr.option_file.parse_and_check`) and mark the options checked
(:func:`mark_checked`); a model built from unmarked options (BasicSR's own ``train.py`` /
``test.py``) runs it itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .archs.arch_util import input_channels
from .data.data_util import (
    dataset_image_names,
    image_key,
    reads_single_images,
    require_data_roots,
    same_stems,
    smallest_image,
    unreadable_image,
)
from .option_rules import (
    AnyOf,
    Boolean,
    Choice,
    Integer,
    ListOf,
    Maybe,
    MissingPathError,
    OptionError,
    Real,
    Section,
    Text,
    check_component,
    check_keys,
    fail,
    key_path,
    lookup,
    number,
    one_of,
)
from .search_result import resolve_genotype_files

# What BasicSR (its parser, loop, loaders and image datasets) and the plugin's loop read from an
# option file, outside what the model (train, val), the networks, datasets, losses and metrics
# check themselves.
BASICSR_KEYS = {
    'name': Text(),
    'model_type': Text(),
    'scale': Integer(1),
    'num_gpu': AnyOf(Integer(0), Choice('auto')),
    'manual_seed': Maybe(Integer(0)),
    'find_unused_parameters': Boolean(),
    'channels_last': Boolean(),
    'dist_params': Section({'backend': Text(), 'port': Integer(1)}),
    'path': Section(
        {
            'pretrain_network_g': Maybe(Text()),
            'strict_load_g': Boolean(),
            'resume_state': Maybe(Text()),
            'param_key_g': Text(),
        }
    ),
    'logger': Section(
        {
            'print_freq': Integer(1),
            'save_checkpoint_freq': Integer(1),
            'use_tb_logger': Boolean(),
            'wandb': Maybe(Section({'project': Maybe(Text()), 'resume_id': Maybe(Text())})),
        }
    ),
}
DATASET_KEYS = {  # every dataset entry: BasicSR's loaders, and the keys its image datasets share
    'name': Text(),
    'batch_size_per_gpu': Integer(1),
    'num_worker_per_gpu': Integer(0),
    'dataset_enlarge_ratio': Integer(1),
    'use_shuffle': Boolean(),
    'pin_memory': Boolean(),
    'persistent_workers': Boolean(),
    'prefetch_mode': Maybe(Choice('cpu', 'cuda')),
    'num_prefetch_queue': Integer(1),
    'dataroot_gt': Text(),
    'dataroot_lq': Text(),
    'meta_info_file': Text(),
    'filename_tmpl': Text(),
    'io_backend': Section({'type': Text()}, 'a mapping with a type (disk or lmdb)'),
    'gt_size': Integer(1),
    'use_hflip': Boolean(),
    'use_rot': Boolean(),
    'mean': ListOf(Real()),
    'std': ListOf(Real(positive=True)),  # the images are divided by it
}
# What the training loop and BasicSR's train loader read without a default: missing, they would
# stop a run that has started with a KeyError.
TRAINING_NEEDS = {
    ('logger', 'print_freq'): 'iterations between log lines, e.g. 100',
    ('logger', 'save_checkpoint_freq'): 'iterations between checkpoints, e.g. 5000',
    ('datasets', 'train', 'batch_size_per_gpu'): 'the batch size per GPU (or per process on the CPU)',
    (
        'datasets',
        'train',
        'num_worker_per_gpu',
    ): 'loader worker processes per GPU, e.g. 4 (0: load in the main process)',
}
SSIM_WINDOW = 11  # basicsr's calculate_ssim: an 11x11 window, so smaller images give NaN

_CHECKED = '_options_checked'


def mark_checked(opt: dict) -> None:
    """Notes in ``opt`` that it passed :func:`check_options`: the model built from it skips the repeat."""
    opt[_CHECKED] = True


def was_checked(opt: Mapping[str, Any]) -> bool:
    return bool(opt.get(_CHECKED))


def check_options(opt: Mapping[str, Any]) -> None:
    """Raises OptionError on the first problem found in ``opt`` (a parsed BasicSR option dict)."""
    from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, MODEL_REGISTRY

    model_cls = lookup(MODEL_REGISTRY, 'model_type', opt.get('model_type'), 'model (MODEL_REGISTRY)')
    check_keys(opt, BASICSR_KEYS, '')
    resolve_genotype_files(opt)  # networks are built from genotypes, never from files
    check_devices(opt)
    check_paths(opt)
    if opt.get('is_train'):
        check_training_loop(opt)
    else:
        check_test_loop(opt)
    for key in sorted(k for k in opt if k.startswith('network_') and isinstance(opt[k], Mapping)):
        check_component(ARCH_REGISTRY, key, opt[key], 'network (ARCH_REGISTRY)')
    held_apart = model_cls.extra_datasets(opt) if opt.get('is_train') and hasattr(model_cls, 'extra_datasets') else {}
    datasets = {**dataset_entries(opt), **held_apart}
    for where, dataset_opt in datasets.items():
        if isinstance(dataset_opt, Mapping):
            check_keys(dataset_opt, DATASET_KEYS, where)
        # a dataset takes its options as one dict: no keyword check
        dataset_cls = check_component(
            DATASET_REGISTRY, where, dataset_opt, 'dataset (DATASET_REGISTRY)', keywords=False
        )
        if 'scale' not in dataset_opt and 'scale' not in opt and reads_scale(dataset_cls):
            raise OptionError(
                f"{where}: {dataset_opt['type']} reads 'scale', which the option file does not give; expected"
                ' scale: 1 at the top of the file for restoration at the same size (BasicSR copies it to each dataset)'
            )
        require_data_roots(dataset_opt, where)
    if hasattr(model_cls, 'check_options'):
        model_cls.check_options(opt)

    net_opt = opt.get('network_g')
    net_cls = ARCH_REGISTRY.get(net_opt['type']) if isinstance(net_opt, Mapping) else None
    for where, dataset_opt in datasets.items():
        check_channels(where, dataset_opt, net_opt, net_cls)
        if dataset_opt['phase'] == 'train' and dataset_opt.get('gt_size') is not None:
            check_patch_size(where, dataset_opt, net_opt, net_cls)
    if 'datasets: train' in datasets:
        for where, split_opt in held_apart.items():
            check_disjoint(where, split_opt, datasets['datasets: train'])
    for where, dataset_opt in datasets.items():  # last: it reads every image
        check_images(where, dataset_opt, (opt.get('val') or {}).get('metrics') or {})


def reads_scale(dataset_cls: type) -> bool:
    """Whether a dataset class reads ``opt['scale']`` (BasicSR's paired and video datasets do),
    which BasicSR's parser copies from the top of the option file only when it is there."""
    import inspect

    try:
        return "opt['scale']" in inspect.getsource(dataset_cls)
    except (OSError, TypeError):
        return False


def check_devices(opt: Mapping[str, Any]) -> None:
    """The GPUs asked for exist (``num_gpu``, ``prefetch_mode: cuda``)."""
    import torch

    available = torch.cuda.device_count()
    num_gpu = opt.get('num_gpu')
    if isinstance(num_gpu, int) and num_gpu > available:
        fail('num_gpu', num_gpu, f'at most {available}, the GPUs this machine has (auto: all of them; 0: the CPU)')
    for name, dataset_opt in (opt.get('datasets') or {}).items():
        if isinstance(dataset_opt, Mapping) and dataset_opt.get('prefetch_mode') == 'cuda' and not available:
            fail(f'datasets: {name}: prefetch_mode', 'cuda', 'cpu or ~ on a machine without CUDA')


def check_paths(opt: Mapping[str, Any]) -> None:
    """The files ``path:`` names exist (``--auto_resume`` picks its own state and weights)."""
    if opt.get('auto_resume'):
        return
    for key, value in (opt.get('path') or {}).items():
        if ('pretrain_network' in key or key == 'resume_state') and value is not None and not os.path.isfile(value):
            raise MissingPathError(
                f'path: {key} = {value!r}: no such file (relative paths are read from the current directory)'
            )


def check_training_loop(opt: Mapping[str, Any]) -> None:
    """The keys the plugin's training loop reads itself: the dataset phases and the prefetcher."""
    names = list(opt.get('datasets') or {})
    if 'train' not in names:
        fail('datasets', names, 'a train entry (and val* entries to validate on)')
    for name in names:
        if name.split('_')[0] not in ('train', 'val'):
            raise OptionError(
                f'datasets: {name}: expected train or val* entries for training (a search declares '
                'its arch split under train: arch_dataset)'
            )
    one_of('datasets: train: prefetch_mode', opt['datasets']['train'].get('prefetch_mode'), (None, 'cpu', 'cuda'))
    for path, expected in TRAINING_NEEDS.items():
        section = opt
        for depth, key in enumerate(path):
            if not isinstance(section, Mapping) or key not in section:
                raise OptionError(
                    f"{': '.join(path[:depth]) or 'the option file'}: '{key}' is missing; expected {expected}"
                )
            section = section[key]


def check_test_loop(opt: Mapping[str, Any]) -> None:
    """A test tests a trained network on test* (or val*) sets: BasicSR's test.py builds every
    entry as a test set (a train entry would be cropped at random) and tests untrained weights
    when no network file is named."""
    names = list(opt.get('datasets') or {})
    if not names:
        fail('datasets', names, 'test* entries to test on')
    for name in names:
        if name.split('_')[0] not in ('test', 'val'):
            raise OptionError(
                f'datasets: {name}: expected test* (or val*) entries for testing (the name sets the phase: a '
                f'{name.split("_")[0]} entry would not be read as a test set)'
            )
    if (opt.get('path') or {}).get('pretrain_network_g') is None:
        fail('path: pretrain_network_g', None, 'the trained network to test (a models/net_g_*.pth)')
    seen = {}
    for name, dataset_opt in opt['datasets'].items():
        set_name = dataset_opt.get('name') if isinstance(dataset_opt, Mapping) else None
        if set_name in seen:
            fail(
                f'datasets: {name}: name',
                set_name,
                f'a name no other test set has (datasets: {seen[set_name]} has it: outputs and metrics.json '
                'are kept by name)',
            )
        seen[set_name] = name


def check_images(where: str, dataset_opt: Mapping[str, Any], metrics: Mapping[str, Any]) -> None:
    """Every image a dataset will read can be read (validation and test sets: decoded, they are
    small; training sets: headers and LMDB records), before the first iteration. A validation or
    test set also has no two images with one name (outputs would overwrite each other) and, for
    SSIM, no image smaller than its window."""
    evaluated = dataset_opt.get('phase') in ('val', 'test')
    problem = unreadable_image(dataset_opt, decode=evaluated)
    if problem is not None:
        key, what = problem
        raise OptionError(
            f'{key_path(where, key)}: {what}; expected an image file (remove it, or its line from meta_info.txt)'
        )
    if not evaluated:
        return
    clash = same_stems(dataset_opt)
    if clash:
        raise OptionError(
            f'{key_path(where, "dataroot_gt")}: {", ".join(repr(n) for n in clash)} share a name: their outputs and '
            'metrics would overwrite each other; expected one image per name (rename one)'
        )
    ssim = [name for name, m in metrics.items() if isinstance(m, Mapping) and 'ssim' in str(m.get('type', '')).lower()]
    smallest = smallest_image(dataset_opt) if ssim else None
    if smallest is not None:
        h, w, image = smallest
        crop = number(f'val: metrics: {ssim[0]}: crop_border', metrics[ssim[0]].get('crop_border', 0), integer=True)
        if min(h, w) - 2 * crop < SSIM_WINDOW:
            raise OptionError(
                f'{where}: {image} is {h}x{w} (HxW): val: metrics: {ssim[0]} needs at least {SSIM_WINDOW} pixels a '
                f'side after crop_border = {crop} (its window; smaller gives NaN); expected larger images, or no '
                f'{ssim[0]} metric'
            )


def dataset_entries(opt: Mapping[str, Any]) -> dict[str, Any]:
    """``datasets: *`` by where they sit, each with its ``phase`` (as BasicSR's parser sets it)."""
    return {
        f'datasets: {name}': dict(dataset_opt, phase=name.split('_')[0])
        if isinstance(dataset_opt, Mapping)
        else dataset_opt
        for name, dataset_opt in (opt.get('datasets') or {}).items()
    }


def check_channels(where: str, dataset_opt: Mapping[str, Any], net_opt: Any, net_cls: Any) -> None:
    """The dataset gives the channels ``network_g`` takes (datasets that say: ``image_channels``)."""
    from basicsr.utils.registry import DATASET_REGISTRY

    dataset_cls = DATASET_REGISTRY.get(dataset_opt['type'])
    net_in = input_channels(net_opt, net_cls) if net_cls is not None else None
    if net_in is None or not hasattr(dataset_cls, 'image_channels'):
        return
    channels, (net_key, net_channels) = dataset_cls.image_channels(dataset_opt), net_in
    if channels != net_channels:
        raise OptionError(
            f'{where}: in_ch = {channels!r} but network_g: {net_key} = {net_channels!r}: expected the dataset to give '
            'the channels the network takes (in_ch: 1 = luma, 3 = RGB)'
        )


def check_patch_size(where: str, dataset_opt: Mapping[str, Any], net_opt: Any, net_cls: Any) -> None:
    """``gt_size`` is a patch the network takes and fits in every training image."""
    gt_size = number(key_path(where, 'gt_size'), dataset_opt['gt_size'], positive=True, integer=True)
    if hasattr(net_cls, 'check_patch_size'):
        net_cls.check_patch_size(net_opt, 'network_g', gt_size, where)
    try:
        smallest = smallest_image(dataset_opt)
    except ValueError as err:
        raise OptionError(
            f'{where}: {err}; expected an image file (remove it from dataroot_gt or from meta_info_file)'
        ) from None
    if smallest is not None and min(smallest[:2]) < gt_size:
        h, w, image = smallest
        raise OptionError(
            f'{where}: gt_size = {gt_size}: expected at most the smallest side of every image, but {image} is '
            f'{h}x{w} (HxW)'
        )


def check_disjoint(where: str, split_opt: Mapping[str, Any], train_opt: Mapping[str, Any]) -> None:
    """A held-apart split shares no image (folder, LMDB or names) with ``datasets: train``."""
    train_root, split_root = train_opt.get('dataroot_gt'), split_opt.get('dataroot_gt')
    if train_root is None or split_root is None:
        return
    same_root = os.path.realpath(train_root) == os.path.realpath(split_root)
    if reads_single_images(train_opt) and reads_single_images(split_opt):
        shared = sorted(
            {image_key(n) for n in dataset_image_names(train_opt)}
            & {image_key(n) for n in dataset_image_names(split_opt)}
        )
    else:
        shared = None  # names unknown
    if same_root and (shared is None or shared):
        raise OptionError(
            f'{where}: dataroot_gt = {split_root!r} is also the dataroot_gt of datasets: train'
            f'{f" ({len(shared)} images in both)" if shared else ""}: expected a held-apart split for the '
            'architecture logits (e.g. arch.lmdb next to train.lmdb)'
        )
    if shared:
        shown = ', '.join(repr(k) for k in shared[:5]) + (', ...' if len(shared) > 5 else '')
        raise OptionError(
            f'{where}: dataroot_gt = {split_root!r} shares {len(shared)} image(s) with datasets: train '
            f'({train_root!r}): {shown}; expected disjoint splits (the architecture logits must learn on images the '
            'weights never saw)'
        )
