"""CLEAREROneShotModel: the single-path one-shot search (:mod:`.one_shot`) on BasicSR's training
loop. Per iteration one step of the weights of a path drawn uniformly (no logits, no architecture
step); at the end every genotype of the budget's window (``train: budget``, :mod:`.budget`; the
whole space without one) is scored on the arch split with the weights it inherits, and the best is
written to ``experiments/<name>/genotype.yml`` with its ranking and how it was scored.

``train: one_shot`` sets the scoring: ``calibration_batches`` (20), ``score_batches`` (8),
``batch_size`` (16), ``cap`` (512: a larger window is searched by evolution, ``population`` 32,
``mutation`` 0.1) and ``ranking`` (20 best kept in genotype.yml). The arch split is declared
under ``train: arch_dataset`` as for the DARTS search; the DARTS search's keys (``arch_loss``,
``optim_arch``, ...) are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from basicsr.utils.dist_util import master_only
from basicsr.utils.registry import MODEL_REGISTRY

from . import one_shot
from .budget import Budget
from .macro_budget import MacroBudget
from .search_options import DARTS_KEYS, ONE_SHOT_DEFAULTS, check_one_shot_train
from .supernet_search import SupernetSearch


@MODEL_REGISTRY.register()
class CLEAREROneShotModel(SupernetSearch):
    METHOD = 'one_shot'
    OTHERS_KEYS = DARTS_KEYS

    def __init__(self, opt: dict) -> None:
        opt['find_unused_parameters'] = True  # DDP: the candidates not on the path get no gradient
        super().__init__(opt)

    @classmethod
    def check_train_options(cls, train: Mapping[str, Any], where: str) -> None:
        super().check_train_options(train, where)
        check_one_shot_train(train, where)

    def setup_search(self) -> None:
        self.one_shot = {**ONE_SHOT_DEFAULTS, **(self.opt['train'].get('one_shot') or {})}
        self.setup_sampling_seed()

    def optimize_parameters(self, current_iter: int) -> None:
        """One step of the weights of one uniform path; in the macro space, of four subnets at once,
        each on a quarter of the batch: the widest, the narrowest and two drawn (archs/widths.py)."""
        net = self.supernet
        if net.macro is None:
            net.use_path(one_shot.uniform_path(net.num_columns, len(net.candidates), self.sampling_seed, current_iter))
        else:
            net.subnets = net.macro.sandwich(one_shot.path_generator(self.sampling_seed, current_iter))
        try:
            super().optimize_parameters(current_iter)
        finally:
            net.use_path(None)
            net.subnets = None
        self.current_iter = current_iter

    def resume_training(self, resume_state: dict[str, Any]) -> None:
        # A state of the earlier one-shot mode of CLEARERSearchModel holds the unused logit
        # optimiser and its schedule after the weights' (appended last): dropped.
        if 'arch_loader' in resume_state:
            for key in ('optimizers', 'schedulers'):
                resume_state[key] = resume_state[key][: len(self.optimizers)]
        super().resume_training(resume_state)

    @master_only
    def export_architecture(self, current_iter: Any) -> None:
        """Selects once, at the end (:func:`.one_shot.export_one_shot`), on the fixed batches of
        :func:`.one_shot.selection_batches`."""
        if not self.is_final(current_iter):
            return
        seed = int(self.opt.get('manual_seed') or 0)
        calibration, scoring = one_shot.selection_batches(self.opt, self.one_shot, seed, self.to_device)
        one_shot.export_one_shot(
            self.supernet,
            self.budget or (MacroBudget if self.supernet.macro else Budget).measure(self.supernet, self.patch_size),
            self.patch_size,
            self.current_iter,
            self.one_shot,
            calibration,
            scoring,
            self.opt['path']['experiments_root'],
            seed,
        )
