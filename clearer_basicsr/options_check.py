"""Checks a parsed BasicSR option dict before anything is built or trained.

A search runs for hours; a typo in the YAML file should cost seconds. :func:`check_options`
reads only the options, the registries and (cheaply) the data folders' listings: LMDB
``meta_info.txt`` files and image headers. It builds no dataset and no network, and raises one
``ValueError`` naming the key, the value found and what was expected:

* ``type:`` names unknown to BasicSR's registries (``model_type``, ``network_*``, datasets,
  ``train: *_opt`` losses, ``arch_loss``, ``arch_dataset``, ``val: metrics``), with close
  matches; optimiser and scheduler types;
* a ``CLEARERNet`` genotype that cannot be read or does not fit the net's preset;
* ``CLEARERSearchModel`` without ``train: arch_dataset``, or with an arch split that shares
  images (names / LMDB keys) with the train split;
* ``gt_size`` larger than the smallest training image, or (CLEARER nets) not a multiple of
  ``2^(len(branch_channels) - 1)``;
* ``sigma`` / ``sigma_range`` outside [0, 255], ``in_ch`` different from the network's input
  channels;
* ``total_iter`` and learning rates that are not positive numbers;
* ``lambda_comp > 0`` without a complexity metric.

It runs at the start of ``RestorationModel.__init__`` (so BasicSR's own ``train.py`` and
``test.py`` check too; at test time there is no ``train`` section) and, earlier, in the plugin's
``train.py`` before any experiment folder is made; the model then skips the options the entry
point has just checked.
"""

import difflib
import inspect
import math
import os
import re

IN_CHANNEL_KEYS = ('in_channels', 'num_in_ch', 'in_chans', 'in_nc')
# Datasets of single images under dataroot_gt (one image per meta_info line): sizes and names
# are read for these only (video datasets list folders, with another meta_info format).
IMAGE_DATASETS = ('GaussianNoiseDataset', 'PairedImageDataset')
BASICSR_SCHEDULERS = ('MultiStepLR', 'MultiStepRestartLR', 'CosineAnnealingRestartLR')  # BaseModel.setup_schedulers
SIGMA_MAX = 255.0
_SHAPE = re.compile(r'\((\d+)\s*,\s*(\d+)(?:\s*,\s*(\d+))?\)')
# Options the plugin's train.py has just checked: the model built from them skips one repeat.
_checked_by_entry_point = None


def check_options(opt, remember=False):
    """Raises ValueError on the first problem found in ``opt`` (a parsed BasicSR option dict).

    ``remember=True`` (the plugin's ``train.py``): the next call with the same options, from
    the model it builds, returns at once instead of checking again."""
    global _checked_by_entry_point
    fingerprint = _fingerprint(opt)
    remembered, _checked_by_entry_point = _checked_by_entry_point, None  # a skip is good for one call only
    if not remember and fingerprint == remembered:
        return
    _import_registries()
    net = _check_network(opt)
    datasets = opt.get('datasets') or {}
    for phase, dataset_opt in datasets.items():
        _check_dataset(f'datasets: {phase}', dataset_opt, net, train_phase=phase.split('_')[0] == 'train')
    is_train = opt.get('is_train', False)
    train_opt = opt.get('train')
    if is_train:
        if not isinstance(train_opt, dict):
            raise ValueError(
                f'train = {train_opt!r}: training needs a train section (optim_g, scheduler, '
                'total_iter, pixel_opt, ...)'
            )
        _check_train(opt, train_opt, net)
    _check_val(opt.get('val'))
    if remember:
        _checked_by_entry_point = fingerprint


def _fingerprint(opt):
    keys = ('model_type', 'network_g', 'datasets', 'train', 'val', 'is_train', 'scale')
    return repr([(k, opt.get(k)) for k in keys])


def _import_registries():
    """BasicSR fills its registries when these packages are imported (archs, datasets, ...)."""
    import basicsr.archs  # noqa: F401
    import basicsr.data  # noqa: F401
    import basicsr.losses  # noqa: F401
    import basicsr.metrics  # noqa: F401
    import basicsr.models  # noqa: F401

    import clearer_basicsr  # noqa: F401


# --------------------------------------------------------------------------- helpers
def _fail(key, value, expected):
    raise ValueError(f'{key} = {value!r}: expected {expected}')


def _known_names(registry):
    """Names a registry answers to: BasicSR's ``get`` also finds ``name_basicsr`` entries."""
    names = set()
    for name in registry.keys():
        names.add(name)
        if name.endswith('_basicsr'):
            names.add(name[: -len('_basicsr')])
    return sorted(names)


def _suggest(name, names):
    by_lower = {n.lower(): n for n in names}  # case-blind: 'ClearerArchLoss' finds 'CLEARERArchLoss' first
    close = [by_lower[n] for n in difflib.get_close_matches(str(name).lower(), list(by_lower), n=3, cutoff=0.6)]
    if close:
        return 'did you mean ' + ' or '.join(repr(n) for n in close) + '?'
    return f'known: {", ".join(names)}'


def _lookup(registry, key, type_name, what):
    """The registered object for ``type_name``; ValueError with close matches when unknown."""
    if not isinstance(type_name, str) or not type_name:
        _fail(key, type_name, f'the name of a registered {what}')
    names = _known_names(registry)
    if type_name in registry:
        return registry.get(type_name)
    if f'{type_name}_basicsr' in registry:
        return registry.get(f'{type_name}_basicsr')
    raise ValueError(
        f'{key} = {type_name!r} is not a registered {what}; {_suggest(type_name, names)} '
        '(the plugin registers its names when clearer_basicsr is imported)'
    )


def _number(key, value, positive=False, integer=False):
    """``value`` as a float (int); ValueError naming ``key`` when it is not a (positive) number."""
    if isinstance(value, bool) or value is None:
        _fail(key, value, 'a positive number' if positive else 'a number')
    if isinstance(value, str):  # BasicSR and torch take the value as it is: a string fails mid-way
        raise ValueError(
            f'{key} = {value!r}: expected a number, not a string (YAML reads 1e-3 as a string: write 1.0e-3)'
        )
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f'{key} = {value!r}: expected a number') from None
    if not math.isfinite(number) or (positive and number <= 0):
        _fail(key, value, 'a positive number' if positive else 'a finite number')
    if integer and number != int(number):
        _fail(key, value, 'a whole number')
    return int(number) if integer else number


def _default(cls, name):
    try:
        param = inspect.signature(cls).parameters.get(name)
    except (TypeError, ValueError):
        return None
    return None if param is None or param.default is inspect.Parameter.empty else param.default


# --------------------------------------------------------------------------- network
def _check_network(opt):
    """Checks every ``network_*`` type (and the CLEARER genotype); returns facts about
    ``network_g``: its class, input channels and, for CLEARER nets, the number of branches."""
    from basicsr.utils.registry import ARCH_REGISTRY, MODEL_REGISTRY

    if 'model_type' in opt:
        _lookup(MODEL_REGISTRY, 'model_type', opt['model_type'], 'model (MODEL_REGISTRY)')
    for key in sorted(k for k in opt if k.startswith('network_')):
        if isinstance(opt[key], dict):
            _lookup(ARCH_REGISTRY, f'{key}: type', opt[key].get('type'), 'network (ARCH_REGISTRY)')
    net_opt = opt.get('network_g')
    net = {'cls': None, 'in_channels': None, 'branches': None}
    if not isinstance(net_opt, dict):
        return net
    cls = _lookup(ARCH_REGISTRY, 'network_g: type', net_opt.get('type'), 'network (ARCH_REGISTRY)')
    net['cls'] = cls
    for key in IN_CHANNEL_KEYS:
        if key in net_opt:
            net['in_channels'], net['in_key'] = net_opt[key], key
            break
        if _default(cls, key) is not None:
            net['in_channels'], net['in_key'] = _default(cls, key), key
            break
    from .archs.clearer_arch import CLEARERNet, _MultiScaleNet

    if isinstance(cls, type) and issubclass(cls, _MultiScaleNet):
        if issubclass(cls, CLEARERNet):
            genotype = _check_genotype(net_opt)
            net['branches'] = len(genotype.branch_channels)
        else:
            channels = net_opt.get('branch_channels', _default(cls, 'branch_channels'))
            if not isinstance(channels, (list, tuple)) or len(channels) < 2:
                _fail('network_g: branch_channels', channels, 'a list of at least 2 channel counts')
            net['branches'] = len(channels)
    return net


def _check_genotype(net_opt):
    """Reads ``network_g: genotype`` and checks it against the preset numbers given next to it."""
    from .archs.genotype import Genotype

    source = net_opt.get('genotype')
    key = 'network_g: genotype'
    if source is None:
        _fail(
            key,
            source,
            'a genotype: a genotype.yml written by a search, a compact string like '
            '"P F F P | F F P P | P P P P", or a mapping with cells',
        )
    looks_like_path = isinstance(source, (str, os.PathLike)) and str(source).strip().endswith(('.yml', '.yaml'))
    if looks_like_path and not os.path.isfile(source):
        raise ValueError(
            f'{key} = {str(source)!r}: no such file; expected the genotype.yml a search wrote '
            '(experiments/<search name>/genotype.yml)'
        )
    channels, columns = net_opt.get('branch_channels'), net_opt.get('columns_per_cell')
    try:
        genotype = Genotype.from_any(source, channels, columns)
        genotype.validate(channels, columns)
    except (ValueError, TypeError, KeyError, OSError) as err:
        preset = ', '.join(
            f'{k} {v}' for k, v in (('branch_channels', channels), ('columns_per_cell', columns)) if v is not None
        )
        raise ValueError(
            f'{key} = {source!r} does not fit the network{f" ({preset})" if preset else ""}: {err}'
        ) from None
    return genotype


# --------------------------------------------------------------------------- datasets
def _check_dataset(key, dataset_opt, net, train_phase):
    """Type, data root, sigma, channels and (training phases) gt_size of one dataset entry."""
    from basicsr.utils.registry import DATASET_REGISTRY

    if not isinstance(dataset_opt, dict):
        _fail(key, dataset_opt, 'a mapping of dataset options with a type')
    type_name = dataset_opt.get('type')
    _lookup(DATASET_REGISTRY, f'{key}: type', type_name, 'dataset (DATASET_REGISTRY)')
    _check_root(key, dataset_opt)
    if type_name == 'GaussianNoiseDataset':
        _check_sigma(key, dataset_opt)
    in_ch = dataset_opt.get('in_ch', 3 if type_name == 'GaussianNoiseDataset' else None)
    if in_ch is not None and net.get('in_channels') is not None and in_ch != net['in_channels']:
        raise ValueError(
            f'{key}: in_ch = {in_ch!r} but network_g: {net["in_key"]} = {net["in_channels"]!r}: '
            'expected the dataset to give the channels the network takes (in_ch: 1 = luma, 3 = RGB)'
        )
    if train_phase and dataset_opt.get('gt_size') is not None:
        _check_gt_size(key, dataset_opt, net)


def _check_root(key, dataset_opt):
    backend = (dataset_opt.get('io_backend') or {}).get('type', 'disk')
    for root_key in ('dataroot_gt', 'dataroot_lq'):
        root = dataset_opt.get(root_key)
        if root is None or backend not in ('disk', 'lmdb'):
            continue
        if not os.path.isdir(root):
            kind = 'an LMDB folder' if backend == 'lmdb' else 'an image folder'
            raise ValueError(
                f'{key}: {root_key} = {root!r}: no such folder; expected {kind} '
                '(relative paths are read from the current directory)'
            )
        meta = dataset_opt.get('meta_info_file')
        if meta is not None and not os.path.isfile(meta):
            raise ValueError(f'{key}: meta_info_file = {meta!r}: no such file')
        if backend == 'lmdb' and meta is None and not os.path.isfile(os.path.join(root, 'meta_info.txt')):
            raise ValueError(
                f'{key}: {root_key} = {root!r}: no meta_info.txt in it; expected a BasicSR LMDB '
                '(clearer_basicsr.data.lmdb_io.write_lmdb writes one)'
            )


def _check_sigma(key, dataset_opt):
    sigma, sigma_range = dataset_opt.get('sigma'), dataset_opt.get('sigma_range')
    if (sigma is None) == (sigma_range is None):
        raise ValueError(
            f'{key}: sigma = {sigma!r}, sigma_range = {sigma_range!r}: expected exactly one of '
            'sigma (fixed noise level) or sigma_range (blind: [lo, hi])'
        )
    expected = f'a noise level on the 0-255 scale, in [0, {SIGMA_MAX:g}]'
    if sigma is not None:
        value = _number(f'{key}: sigma', sigma)
        if not 0 <= value <= SIGMA_MAX:
            _fail(f'{key}: sigma', sigma, expected)
        return
    if not isinstance(sigma_range, (list, tuple)) or len(sigma_range) != 2:
        _fail(f'{key}: sigma_range', sigma_range, f'[lo, hi] with 0 <= lo <= hi <= {SIGMA_MAX:g}')
    lo, hi = (_number(f'{key}: sigma_range', v) for v in sigma_range)
    if not 0 <= lo <= hi <= SIGMA_MAX:
        _fail(f'{key}: sigma_range', sigma_range, f'[lo, hi] with 0 <= lo <= hi <= {SIGMA_MAX:g}')


def _check_gt_size(key, dataset_opt, net):
    gt_size = _number(f'{key}: gt_size', dataset_opt['gt_size'], positive=True, integer=True)
    if net.get('branches'):
        multiple = 2 ** (net['branches'] - 1)
        if gt_size % multiple:
            below = gt_size // multiple * multiple
            example = f'{below} or {below + multiple}' if below else f'{multiple}'
            raise ValueError(
                f'{key}: gt_size = {gt_size}: expected a multiple of {multiple} = 2^(branches - 1) for '
                f'the {net["branches"]} branches of network_g (e.g. {example})'
            )
    smallest = _smallest_image(key, dataset_opt)
    if smallest is not None and min(smallest[:2]) < gt_size:
        h, w, where = smallest
        raise ValueError(
            f'{key}: gt_size = {gt_size}: expected at most the smallest side of every image, but '
            f'{where} is {h}x{w} (HxW)'
        )


def _image_names(dataset_opt):
    """Image names (relative paths, extension kept) the dataset reads, or None when unknown."""
    from .data.lmdb_io import list_images

    root = dataset_opt.get('dataroot_gt')
    backend = (dataset_opt.get('io_backend') or {}).get('type', 'disk')
    if root is None or backend not in ('disk', 'lmdb') or dataset_opt.get('type') not in IMAGE_DATASETS:
        return None
    meta = dataset_opt.get('meta_info_file')
    if backend == 'lmdb':
        meta = meta or os.path.join(root, 'meta_info.txt')
    if meta is not None:
        with open(meta) as f:
            return [line.split()[0] for line in f if line.strip()]
    return list_images(root)


def _smallest_image(key, dataset_opt):
    """(h, w, description) of the image with the smallest side, from LMDB meta_info shapes or
    image headers (nothing is decoded); None when the sizes cannot be known cheaply."""
    root = dataset_opt.get('dataroot_gt')
    backend = (dataset_opt.get('io_backend') or {}).get('type', 'disk')
    if root is None or backend not in ('disk', 'lmdb') or dataset_opt.get('type') not in IMAGE_DATASETS:
        return None
    smallest = None
    if backend == 'lmdb':
        meta = dataset_opt.get('meta_info_file') or os.path.join(root, 'meta_info.txt')
        with open(meta) as f:
            for line in f:
                if not line.strip():
                    continue
                match = _SHAPE.search(line)
                if match is None:
                    return None  # a meta_info without shapes: sizes unknown without decoding
                h, w = int(match.group(1)), int(match.group(2))
                if smallest is None or min(h, w) < min(smallest[:2]):
                    smallest = (h, w, f'LMDB {root!r}, key {os.path.splitext(line.split()[0])[0]!r}')
        return smallest
    from PIL import Image

    for name in _image_names(dataset_opt):
        path = os.path.join(root, name)
        try:
            with Image.open(path) as img:  # reads the header only
                w, h = img.size
        except (OSError, SyntaxError, ValueError) as err:
            raise ValueError(
                f'{key}: image {path!r} cannot be read ({err}); expected an image file '
                '(remove it from dataroot_gt or from meta_info_file)'
            ) from None
        if smallest is None or min(h, w) < min(smallest[:2]):
            smallest = (h, w, f'image {path!r}')
    return smallest


# --------------------------------------------------------------------------- train
def _check_train(opt, train_opt, net):
    import torch
    from basicsr.utils.registry import LOSS_REGISTRY

    _number('train: total_iter', train_opt.get('total_iter'), positive=True, integer=True)
    for key in sorted(train_opt):
        value = train_opt[key]
        if key.endswith('_opt') and isinstance(value, dict):
            _lookup(LOSS_REGISTRY, f'train: {key}: type', value.get('type'), 'loss (LOSS_REGISTRY)')
            if 'loss_weight' in value:
                _number(f'train: {key}: loss_weight', value['loss_weight'])
        elif key.startswith('optim_') and value is not None:
            _check_optimizer(f'train: {key}', value, torch)
    if 'optim_g' not in train_opt:
        _fail('train: optim_g', None, 'an optimiser, e.g. {type: Adam, lr: 1.0e-3}')
    _check_scheduler('train: scheduler', train_opt.get('scheduler'), BASICSR_SCHEDULERS)
    if _is_search_model(opt.get('model_type')):
        _check_search(opt, train_opt, net)


def _is_search_model(model_type):
    from basicsr.utils.registry import MODEL_REGISTRY

    from .models.clearer_search_model import CLEARERSearchModel

    cls = dict(iter(MODEL_REGISTRY)).get(model_type) if isinstance(model_type, str) else None
    return isinstance(cls, type) and issubclass(cls, CLEARERSearchModel)


def _check_optimizer(key, optim_opt, torch):
    if not isinstance(optim_opt, dict):
        _fail(key, optim_opt, 'a mapping like {type: Adam, lr: 1.0e-3}')
    names = sorted(
        n
        for n, c in vars(torch.optim).items()
        if isinstance(c, type) and issubclass(c, torch.optim.Optimizer) and n != 'Optimizer'
    )
    type_name = optim_opt.get('type')
    if type_name not in names:
        raise ValueError(f'{key}: type = {type_name!r} is not a torch.optim optimizer; {_suggest(type_name, names)}')
    _number(f'{key}: lr', optim_opt.get('lr'), positive=True)


def _check_scheduler(key, sched_opt, allowed):
    if not isinstance(sched_opt, dict) or 'type' not in sched_opt:
        _fail(key, sched_opt, f'a mapping with a type, one of {list(allowed)}')
    if sched_opt['type'] not in allowed:
        raise ValueError(
            f'{key}: type = {sched_opt["type"]!r} is not a scheduler BasicSR sets up; '
            f'{_suggest(sched_opt["type"], list(allowed))}'
        )


def _check_search(opt, train_opt, net):
    """The arch split, the architecture loss and logit optimiser of a CLEARER search."""
    import torch
    from basicsr.models import lr_scheduler as basicsr_schedulers
    from basicsr.utils.registry import LOSS_REGISTRY

    if net.get('cls') is not None and not hasattr(net['cls'], 'arch_parameters'):
        raise ValueError(
            f'network_g: type = {opt["network_g"].get("type")!r}: expected a network with architecture '
            'logits (e.g. CLEARERSearchNet) for model_type CLEARERSearchModel'
        )
    arch_opt = train_opt.get('arch_dataset')
    if not arch_opt:
        _fail(
            'train: arch_dataset',
            arch_opt,
            'the held-apart split the architecture logits learn on '
            '(any BasicSR dataset options, e.g. a GaussianNoiseDataset on an arch.lmdb)',
        )
    train_data = (opt.get('datasets') or {}).get('train') or {}
    arch_opt = dict(arch_opt)
    if 'gt_size' not in arch_opt and 'gt_size' in train_data:  # the search model copies it from datasets: train
        arch_opt['gt_size'] = train_data['gt_size']
    _check_dataset('train: arch_dataset', arch_opt, net, train_phase=True)
    if train_data:
        _check_disjoint(train_data, arch_opt)

    loss_opt = train_opt.get('arch_loss')
    if loss_opt is not None:
        if not isinstance(loss_opt, dict):
            _fail('train: arch_loss', loss_opt, 'a mapping like {type: CLEARERArchLoss, lambda_arch: 0.01}')
        _lookup(LOSS_REGISTRY, 'train: arch_loss: type', loss_opt.get('type'), 'loss (LOSS_REGISTRY)')
        from .losses.arch_loss import COMPLEXITY_METRICS

        lambda_arch = _number('train: arch_loss: lambda_arch', loss_opt.get('lambda_arch', 0.01))
        lambda_comp = _number('train: arch_loss: lambda_comp', loss_opt.get('lambda_comp', 0.0))
        for name, value in (('lambda_arch', lambda_arch), ('lambda_comp', lambda_comp)):
            if value < 0:
                _fail(f'train: arch_loss: {name}', value, 'a weight >= 0')
        complexity = loss_opt.get('complexity')
        if lambda_comp > 0 and complexity not in COMPLEXITY_METRICS:
            raise ValueError(
                f'train: arch_loss: lambda_comp = {loss_opt.get("lambda_comp")!r} needs a complexity '
                f'metric, but complexity = {complexity!r}; expected one of {list(COMPLEXITY_METRICS)}'
            )
        if complexity is not None and complexity not in COMPLEXITY_METRICS:
            _fail('train: arch_loss: complexity', complexity, f'one of {list(COMPLEXITY_METRICS)}')
    sched = train_opt.get('scheduler_arch')  # optim_arch: checked with every optim_* in _check_train
    if sched:
        names = sorted(
            {n for n in dir(basicsr_schedulers) if n.endswith('LR')}
            | {n for n in dir(torch.optim.lr_scheduler) if n.endswith('LR') and not n.startswith('_')}
        )
        _check_scheduler('train: scheduler_arch', sched, names)
    warmup = train_opt.get('arch_warmup_iter', 0)
    if _number('train: arch_warmup_iter', warmup, integer=True) < 0:
        _fail('train: arch_warmup_iter', warmup, 'a number of iterations >= 0')


def _split_keys(dataset_opt):
    names = _image_names(dataset_opt)
    return None if names is None else {os.path.splitext(n)[0].replace(os.sep, '/') for n in names}


def _check_disjoint(train_data, arch_opt):
    """The arch split must share no image with the train split (same folder, LMDB or names)."""
    train_root, arch_root = train_data.get('dataroot_gt'), arch_opt.get('dataroot_gt')
    if train_root is None or arch_root is None:
        return
    same_root = os.path.realpath(train_root) == os.path.realpath(arch_root)
    train_keys, arch_keys = _split_keys(train_data), _split_keys(arch_opt)
    if train_keys is None or arch_keys is None:
        shared = None
    else:
        shared = sorted(train_keys & arch_keys)
    if same_root and (shared is None or shared):
        raise ValueError(
            f'train: arch_dataset: dataroot_gt = {arch_root!r} is also the dataroot_gt of datasets: '
            f'train{f" ({len(shared)} images in both)" if shared else ""}: expected a held-apart split '
            'for the architecture logits (e.g. arch.lmdb next to train.lmdb)'
        )
    if shared:
        shown = ', '.join(repr(k) for k in shared[:5]) + (', ...' if len(shared) > 5 else '')
        raise ValueError(
            f'train: arch_dataset: dataroot_gt = {arch_root!r} shares {len(shared)} image(s) with '
            f'datasets: train ({train_root!r}): {shown}; expected disjoint splits (the architecture '
            'logits must learn on images the weights never saw)'
        )


# --------------------------------------------------------------------------- val
def _check_val(val_opt):
    from basicsr.utils.registry import METRIC_REGISTRY

    if not isinstance(val_opt, dict):
        return
    for name, metric in (val_opt.get('metrics') or {}).items():
        if isinstance(metric, dict):
            _lookup(METRIC_REGISTRY, f'val: metrics: {name}: type', metric.get('type'), 'metric (METRIC_REGISTRY)')
    pad = val_opt.get('pad_multiple')
    if pad is not None:
        _number('val: pad_multiple', pad, positive=True, integer=True)
    if val_opt.get('val_freq') is not None:
        _number('val: val_freq', val_opt['val_freq'], positive=True)
