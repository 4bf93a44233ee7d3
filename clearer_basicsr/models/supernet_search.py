"""What CLEARER's two searches share on BasicSR's training loop: the supernet, the held-apart arch
split, the budget (:mod:`.budget`), the seed paths are drawn from, and writing the result at
validations and at the end. Each search is its own model, chosen by ``model_type`` as BasicSR
chooses SRModel or SRGANModel: :class:`~.clearer_search_model.CLEARERSearchModel` (DARTS, the
paper's) and :class:`~.clearer_one_shot_model.CLEAREROneShotModel`. Each checks its own ``train:``
keys and refuses the other's in one line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.distributed as dist
from basicsr.utils import get_root_logger

from .. import option_rules as rules
from ..archs.latency import table_key, write_table
from .budget import LEGACY_KEYS, Budget, budget_section, legacy_warning
from .macro_budget import MacroBudget
from .restoration_model import RestorationModel
from .search_options import arch_dataset_options, check_search_network, check_search_train

MODEL_TYPES = {'darts': 'CLEARERSearchModel', 'one_shot': 'CLEAREROneShotModel'}  # train: arch_search of old files


class SupernetSearch(RestorationModel):
    METHOD = ''  # a key of MODEL_TYPES
    OTHERS_KEYS: tuple[str, ...] = ()  # train: keys of the other search, refused

    def __init__(self, opt: dict) -> None:
        self.current_iter = 0  # the last iteration trained: genotype.yml says which it comes from
        super().__init__(opt)

    @property
    def supernet(self) -> torch.nn.Module:
        return self.get_bare_model(self.net_g)

    def weight_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.supernet.weight_parameters() if p.requires_grad]

    # ----------------------------------------------------------------- options
    @classmethod
    def check_train_options(cls, train: Mapping[str, Any], where: str) -> None:
        super().check_train_options(train, where)
        method = train.get('arch_search', cls.METHOD)
        if method != cls.METHOD:
            expected = MODEL_TYPES.get(method)
            raise rules.OptionError(
                f'{rules.key_path(where, "arch_search")} = {method!r}: '
                + (f'that search is model_type: {expected}; ' if expected else f'expected {cls.METHOD!r}; ')
                + f'model_type {cls.__name__} runs {cls.METHOD}'
            )
        legacy = [k for k in LEGACY_KEYS if k in (train.get('arch_loss') or {})]
        if 'arch_loss' in cls.OTHERS_KEYS and legacy:
            raise rules.OptionError(
                f'{rules.key_path(where, "arch_loss")}: {", ".join(legacy)}: the budget of a {cls.__name__} is '
                f'train: budget, e.g. {{metric: macs, target: 0.5}}; move it there and remove arch_loss'
            )
        for name in cls.OTHERS_KEYS:
            if name in train:
                other = next(t for m, t in MODEL_TYPES.items() if m != cls.METHOD)
                raise rules.OptionError(
                    f'{rules.key_path(where, name)}: a key of model_type {other}, which {cls.__name__} does not read; '
                    'remove it'
                )
        check_search_train(train, where)

    @classmethod
    def check_options(cls, opt: Mapping[str, Any], where: str = '') -> None:
        super().check_options(opt, where)
        check_search_network(opt, where, enumerated=cls.METHOD == 'one_shot')
        section, _ = budget_section(opt.get('train') or {}) if opt.get('is_train') else (None, None)
        if section and section['metric'] == 'latency' and opt.get('dist') and (opt.get('world_size') or 1) > 1:
            raise rules.OptionError(
                f'{rules.key_path(where, "train: budget: metric")} = latency: it is timed on the device the search '
                f'runs on, which a distributed launch (world_size {opt.get("world_size")}) shares between ranks '
                'timing at once; search with one process, or to metric: macs'
            )

    @classmethod
    def extra_datasets(cls, opt: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """Training splits it builds besides ``datasets:``; each must share no image with ``datasets: train``."""
        arch_opt = arch_dataset_options(opt)
        return {'train: arch_dataset': arch_opt} if arch_opt else {}

    # ----------------------------------------------------------------- setup
    def init_training_settings(self) -> None:
        train_opt = self.opt['train']
        self.patch_size = int(self.opt['datasets']['train'].get('gt_size') or 64)
        section, self.arch_loss_options = budget_section(train_opt)
        where = 'train: budget' if 'budget' in train_opt else 'train: arch_loss'
        timing = {
            'device': self.device,
            'channels_last': self.channels_last,
            'folder': self.opt['path'].get('experiments_root'),  # latency_table.json beside the run (save writes it)
            'keep': bool(self.opt['path'].get('resume_state')),  # a resumed run keeps the budget it started with
        }
        if section and self.supernet.macro is not None:
            self.budget = MacroBudget.from_section(section, self.supernet, self.patch_size, where, timing)
        else:
            self.budget = (
                Budget.from_section(section, self.supernet, self.patch_size, where, timing) if section else None
            )
        if self.budget and self.budget.table:
            timed = self.budget.table['key']
            here = table_key(self.supernet, self.budget.patch_size, self.device, self.channels_last)
            if timed != here:
                get_root_logger().warning(
                    f'latency_table.json was timed on {timed["device"]} with {timed["threads"]} thread(s), torch '
                    f'{timed["torch"]}; this run goes on with it, so its budget stays the one it started with'
                )
        warning = legacy_warning(train_opt)
        if warning:
            get_root_logger().warning(warning)
        self.setup_search()
        super().init_training_settings()

    def setup_search(self) -> None:
        """The search's own parts, built before BasicSR's optimisers (in this order: the random
        streams a run draws from stay those of earlier versions)."""
        raise NotImplementedError

    def setup_sampling_seed(self) -> None:
        # Paths are drawn from this seed, the iteration and the step: the same on every rank.
        seed = [int(self.opt.get('manual_seed') or 0)]
        if self.opt['dist']:  # without manual_seed BasicSR draws one per rank
            dist.broadcast_object_list(seed, src=0)
        self.sampling_seed = seed[0]

    # ------------------------------------------------------- export, resume
    def validation(self, dataloader: Any, current_iter: Any, tb_logger: Any, save_img: bool = False) -> None:
        super().validation(dataloader, current_iter, tb_logger, save_img)
        self.export_architecture(current_iter)

    def save(self, epoch: int, current_iter: int) -> None:
        super().save(epoch, current_iter)
        if self.budget and self.budget.table and self.opt['rank'] == 0:  # the run's folder exists by now
            write_table(self.budget.table, self.opt['path']['experiments_root'])
        if current_iter == -1 and not self.opt.get('val'):  # else the final validation exports
            self.export_architecture(current_iter)

    def is_final(self, current_iter: Any) -> bool:
        return current_iter == -1 or current_iter >= int(self.opt['train']['total_iter'])

    def export_architecture(self, current_iter: Any) -> None:
        """Writes the search's result (genotype.yml and its pictures) into the experiment folder
        (on the main process only)."""
        raise NotImplementedError

    def resume_training(self, resume_state: dict[str, Any]) -> None:
        super().resume_training(resume_state)
        self.current_iter = resume_state['iter']
