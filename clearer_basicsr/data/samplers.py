"""Loaders of a run: training loaders whose position can be saved and restored (bit-exact resume),
and the whole-image loaders of validation and test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from ..errors import DataError


class ResumableSampler(torch.utils.data.Sampler):
    """Wraps BasicSR's EnlargedSampler; its next epoch can start after the first ``skip`` indices."""

    def __init__(self, sampler: torch.utils.data.Sampler):
        self.sampler = sampler
        self.skip = 0

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[int]:
        indices = list(self.sampler)[self.skip :]
        self.skip = 0
        return iter(indices)

    def __len__(self) -> int:
        return len(self.sampler)


class CyclingLoader:
    """Endless batches from a loader built on a ResumableSampler, with a savable position.

    The search model draws its architecture batches from it, one per logit step."""

    def __init__(self, loader: torch.utils.data.DataLoader, sampler: ResumableSampler, batch_size: int):
        self.loader, self.sampler, self.batch_size = loader, sampler, batch_size
        self.epoch, self.batch_in_epoch = 0, 0
        self._iter = None

    def next(self) -> Any:
        if self._iter is None:
            self._start(self.batch_in_epoch)
        try:
            batch = next(self._iter)
        except StopIteration:
            self.epoch, self.batch_in_epoch = self.epoch + 1, 0
            self._start(0)
            batch = next(self._iter)
        self.batch_in_epoch += 1
        return batch

    def _start(self, skip: int) -> None:
        self.sampler.set_epoch(self.epoch)
        self.sampler.skip = skip * self.batch_size
        self._iter = iter(self.loader)

    def state_dict(self) -> dict[str, Any]:
        return {'epoch': self.epoch, 'batch_in_epoch': self.batch_in_epoch, 'started': self._iter is not None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.batch_in_epoch = state['epoch'], state['batch_in_epoch']
        # Start now if the saved run had started: making an iterator draws from torch's RNG,
        # which the training loop restores afterwards, exactly as in the uninterrupted run.
        self._iter = None
        if state.get('started', True):
            self._start(self.batch_in_epoch)


def build_train_loader(dataset_opt: dict, opt: dict) -> tuple[torch.utils.data.DataLoader, ResumableSampler]:
    """A training dataset's loader on a ResumableSampler, as BasicSR builds its train loader.

    Returns ``(loader, sampler)``; ``dataset_opt['phase']`` must be set ('train')."""
    from basicsr.data import build_dataloader, build_dataset
    from basicsr.data.data_sampler import EnlargedSampler

    dataset = build_dataset(dataset_opt)
    enlarge = dataset_opt.get('dataset_enlarge_ratio', 1)
    sampler = ResumableSampler(EnlargedSampler(dataset, opt['world_size'], opt['rank'], enlarge))
    loader = build_dataloader(
        dataset, dataset_opt, num_gpu=opt['num_gpu'], dist=opt['dist'], sampler=sampler, seed=opt['manual_seed']
    )
    if len(loader) == 0:
        raise DataError(
            f'dataset {dataset_opt.get("name")!r} has {len(dataset)} samples, fewer than '
            f'batch_size_per_gpu={dataset_opt["batch_size_per_gpu"]} (training loaders drop the last '
            'incomplete batch); raise dataset_enlarge_ratio or lower the batch size'
        )
    return loader, sampler


def build_eval_loader(dataset_opt: dict, opt: dict) -> Any:
    """A validation or test set and its loader, as BasicSR builds them (whole images, in order)."""
    from basicsr.data import build_dataloader, build_dataset

    dataset = build_dataset(dataset_opt)
    return build_dataloader(
        dataset, dataset_opt, num_gpu=opt['num_gpu'], dist=opt['dist'], sampler=None, seed=opt['manual_seed']
    )
