"""How large and how noisy is the pixel loss's gradient on the architecture logits?

Trains the demo search's supernet (``clearer_basicsr/options/demo_search.yml``, real demo data)
with frozen logits and, after ``--warmup`` weight steps, records at every step the first-order
gradient of the arch-split loss on each column's logit difference (parallel minus fusion), as
the logit step would compute it. Prints, per column, its mean and standard deviation over the
``--steps`` steps, and the column weight at which Adam's L2 weight decay ``--weight_decay`` would
balance the mean (the tie the reference settings end in; docs/search.md)::

    python benchmarks/logit_gradient.py [--steps 200] [--warmup 100] [--weight_decay 0.001]
"""

import argparse
import math
import os
import statistics
import sys
import tempfile

os.environ.setdefault('OMP_NUM_THREADS', '1')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # the checkout's command-line helper (the standard library only)
from _clearer_basicsr_cli import UserInputError, run  # noqa: E402


def demo_model(data: str, work: str, warmup: int):
    """The demo search model, its options completed as the train entry point would."""
    import yaml
    from basicsr.models import build_model

    import clearer_basicsr  # noqa: F401  (registers the plugin)

    with open(os.path.join(ROOT, 'clearer_basicsr', 'options', 'demo_search.yml')) as f:
        opt = yaml.safe_load(f)
    opt.update(is_train=True, dist=False, rank=0, world_size=1, num_gpu=0, auto_resume=False, root_path=work)
    opt['datasets']['train'].update(phase='train', dataroot_gt=os.path.join(data, 'train.lmdb'))
    opt['train']['arch_dataset']['dataroot_gt'] = os.path.join(data, 'arch.lmdb')
    opt['train']['arch_warmup_iter'] = warmup
    exp = os.path.join(work, 'experiments', opt['name'])
    opt['path'].update(experiments_root=exp, log=exp, models=exp, training_states=exp, visualization=exp)
    os.makedirs(exp, exist_ok=True)
    return build_model(opt), opt


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', default='datasets/demo', help='demo data folder (made if missing)')
    parser.add_argument('--steps', type=int, default=200, help='steps at which the gradient is recorded')
    parser.add_argument('--warmup', type=int, default=100, help='weight steps before the first record')
    parser.add_argument('--weight_decay', type=float, default=1e-3, help='the L2 weight decay to compare with')
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        raise UserInputError(f'--steps {args.steps} --warmup {args.warmup}: expected steps >= 1 and warmup >= 0')

    import torch

    from clearer_basicsr.data.demo_data import make_demo_data
    from clearer_basicsr.data.samplers import build_train_loader
    from clearer_basicsr.models.restoration_model import RestorationModel

    torch.set_num_threads(1)
    make_demo_data(args.data)
    with tempfile.TemporaryDirectory() as work:
        model, opt = demo_model(os.path.abspath(args.data), work, args.warmup)
        loader, _ = build_train_loader(opt['datasets']['train'], opt)
        batches, records = iter(loader), []
        for step in range(1, args.warmup + args.steps + 1):
            try:
                data = next(batches)
            except StopIteration:
                batches = iter(loader)
                data = next(batches)
            model.feed_data(data)
            if step > args.warmup:  # the logit step's gradient, not taken
                model.optimizer_arch.zero_grad(set_to_none=True)
                with model.arch_bn():
                    model.logit_gradient(model.next_arch_batch())
                grad = model.supernet.arch_logits.grad.detach()
                records.append((grad[:, 0] - grad[:, 1]).tolist())
            RestorationModel.optimize_parameters(model, step)  # the weight step alone: logits frozen
    print(f'd(arch loss)/d(logit_parallel - logit_fusion), {args.steps} steps after {args.warmup} weight steps:')
    print(f'{"column":>8}{"mean":>12}{"std":>12}  weight of parallel where L2 {args.weight_decay:g} balances the mean')
    for c, values in enumerate(zip(*records)):
        mean, std = statistics.fmean(values), statistics.stdev(values)
        balanced = 1 / (1 + math.exp(mean / args.weight_decay))  # logit difference -mean / wd
        print(f'{c + 1:>8}{mean:>12.2e}{std:>12.2e}  {balanced:.3f}')
    return records


if __name__ == '__main__':
    run(main)
