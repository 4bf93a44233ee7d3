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
from .data.data_util import dataset_image_names, image_key, reads_single_images, require_data_roots, smallest_image
from .option_rules import OptionError, check_component, fail, key_path, lookup, number, one_of

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
    if opt.get('is_train'):
        check_training_loop(opt)
    for key in sorted(k for k in opt if k.startswith('network_') and isinstance(opt[k], Mapping)):
        check_component(ARCH_REGISTRY, key, opt[key], 'network (ARCH_REGISTRY)')
    held_apart = model_cls.extra_datasets(opt) if opt.get('is_train') and hasattr(model_cls, 'extra_datasets') else {}
    datasets = {**dataset_entries(opt), **held_apart}
    for where, dataset_opt in datasets.items():
        check_component(DATASET_REGISTRY, where, dataset_opt, 'dataset (DATASET_REGISTRY)')
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
