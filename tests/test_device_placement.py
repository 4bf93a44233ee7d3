"""Device placement without a GPU: every tensor the plugin's training and search steps create says
where it lives, so that nothing is left on the CPU when the model runs on CUDA.

A tensor made by a factory (``torch.zeros(n)``, ``torch.tensor(x)``, ...) without ``device=`` lands
on the CPU. On the CPU that is invisible; on CUDA it fails at the first operation that mixes it with
the model's tensors, or costs a host-to-device copy every step. The runs below record every such
call made from the plugin's code during real (tiny) runs: a search with the exact mixture to a
budget, a Gumbel search, a one-shot search and a retrain with validation. Each one found must be
host-side by design (listed in HOST_SIDE with the reason).
"""

import collections
import os
import sys

import torch
from conftest import TINY_SEARCH_NET, one_shot_options, run_train_inprocess, search_options, train_options, write_yaml
from torch.overrides import TorchFunctionMode

FACTORIES = {
    torch.zeros,
    torch.ones,
    torch.empty,
    torch.full,
    torch.tensor,
    torch.as_tensor,
    torch.arange,
    torch.linspace,
    torch.eye,
    torch.rand,
    torch.randn,
    torch.randint,
    torch.randperm,
}
PLUGIN = os.sep + 'clearer_basicsr' + os.sep
# (module under clearer_basicsr/, function) -> why a CPU tensor is right there
HOST_SIDE = {
    ('archs/arch_util.py', 'mac_counter'): 'the MAC count traces the network once, on the CPU',
    ('archs/complexity.py', 'cost_matrix'): 'a cost table, measured once; the loss keeps it on its device',
    ('archs/complexity.py', 'derive_within_budget'): 'the budget derivation ranks genotypes once, on the host',
    ('archs/complexity.py', 'enumerate_genotypes'): 'the same, its chunks of genotypes',
    ('archs/clearer_arch.py', '__init__'): 'the logits are created with the net and moved with it',
    ('archs/clearer_arch.py', 'mixing_weights'): 'Gumbel noise from a CPU generator shared by every rank, then moved',
    ('losses/arch_loss.py', '__init__'): 'a buffer made with the loss and moved with it',
    ('models/budget.py', 'measure'): "the budget's cost table, measured once; the loss keeps it on its device",
    ('models/one_shot.py', 'uniform_path'): 'the path as Python ints, from a CPU generator shared by every rank',
    ('bn_recalibration.py', 'drawn_batches'): 'dataset indices',
}


class FactoryCalls(TorchFunctionMode):
    """Counts factory calls without ``device=`` made from the plugin's code, by (module, function)."""

    def __init__(self):
        super().__init__()
        self.calls = collections.Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in FACTORIES and 'device' not in kwargs and not isinstance(kwargs.get('out'), torch.Tensor):
            frame = sys._getframe(1)
            while frame is not None and PLUGIN not in frame.f_code.co_filename:
                path = frame.f_code.co_filename
                if os.sep + 'torch' + os.sep not in path or os.sep.join(('torch', 'utils', 'data')) in path:
                    frame = None  # BasicSR's or the data loader's (batches are moved by feed_data)
                    break
                frame = frame.f_back
            if frame is not None:
                module = frame.f_code.co_filename.split(PLUGIN)[-1].replace(os.sep, '/')
                if not module.startswith('data/'):  # datasets make CPU batches; feed_data moves them
                    self.calls[(module, frame.f_code.co_name)] += 1
        return func(*args, **kwargs)


def test_the_steps_create_no_tensor_off_the_models_device(demo_data, tmp_path):
    budget = {'metric': 'macs', 'target': 0.8}
    runs = {
        'exact_budget': search_options(demo_data, 'exact_budget', total_iter=4, budget=budget),
        'gumbel': search_options(demo_data, 'gumbel', total_iter=4, arch_sampling='gumbel'),
        'one_shot': one_shot_options(
            demo_data,
            'one_shot',
            total_iter=4,
            one_shot={'calibration_batches': 2, 'score_batches': 2, 'batch_size': 2},
        ),
        'retrain': train_options(
            demo_data,
            'retrain',
            network_g={**TINY_SEARCH_NET, 'type': 'CLEARERNet', 'genotype': 'P F'},
        ),
    }
    watch = FactoryCalls()
    for name, opt in runs.items():
        opt['val']['val_freq'] = 2
        with watch:
            run_train_inprocess(write_yaml(tmp_path / f'{name}.yml', opt), tmp_path)
    unexplained = {call: n for call, n in watch.calls.items() if call not in HOST_SIDE}
    assert not unexplained, f'tensors created without device= (module, function): {unexplained}'
    assert ('archs/clearer_arch.py', 'mixing_weights') in watch.calls  # the watch sees the plugin's calls
