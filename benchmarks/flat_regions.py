"""A denoiser on flat noisy patches: where its output is still flat, and where it blows up.

For each network (a test option file, or a zoo entry as ``zoo:NAME``) and each level (0..1), a
flat ``--size`` x ``--size`` image at that level plus Gaussian noise of ``--sigma`` (float, not
clipped, as the benchmarks' inputs) is restored whole; printed are the output's standard
deviation and its RMSE after clipping to [0, 1] (0-255 scale), away from the borders. A stable
denoiser leaves both near sigma / 10. With --trace, the largest activation of each top-level
module at the brightest level against --reference (0.5), where it grows threefold or more.

    python benchmarks/flat_regions.py zoo:clearer_gray_s25 zoo:clearer_color_s30 [RUN/test.yml ...]
        [--levels 0 0.5 0.9 0.95 1] [--sigma 25] [--trace]
"""

import argparse
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from _clearer_basicsr_cli import UserInputError, run  # noqa: E402


def load(source):
    from clearer_basicsr.tools.trained_net import load_trained_network, trained_network
    from clearer_basicsr.tools.zoo import entry_options

    if source.startswith('zoo:'):
        return trained_network(entry_options(source[4:]), source)[0]
    return load_trained_network(source)[0]


def flat_input(channels, level, size, sigma, seed):
    gt = torch.full((1, channels, size, size), float(level))
    return gt + torch.randn(gt.shape, generator=torch.Generator().manual_seed(seed)) * sigma / 255


def largest_activations(net, x):
    """{module name: largest |activation|} of ``net``'s top-level children and their children."""
    found, hooks = {}, []
    for name, module in net.named_modules():
        if name and name.count('.') <= 2:

            def keep(module, args, out, name=name):
                tensors = [out] if isinstance(out, torch.Tensor) else list(out)
                found[name] = max(float(t.abs().max()) for t in tensors)

            hooks.append(module.register_forward_hook(keep))
    try:
        with torch.no_grad():
            net(x)
    finally:
        for hook in hooks:
            hook.remove()
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('networks', nargs='+', help='test option files, or zoo:NAME')
    parser.add_argument('--levels', type=float, nargs='+', default=[0.0, 0.5, 0.9, 0.95, 1.0])
    parser.add_argument('--sigma', type=float, default=25.0)
    parser.add_argument('--size', type=int, default=128)
    parser.add_argument('--trace', action='store_true', help='where the activations grow at the brightest level')
    parser.add_argument('--reference', type=float, default=0.5, help='the level --trace compares with (default 0.5)')
    args = parser.parse_args(argv)
    if args.size < 48 or not all(0 <= v <= 1 for v in args.levels) or len(args.levels) < 2:
        raise UserInputError('--size >= 48 and at least two --levels in [0, 1] expected')
    from clearer_basicsr.inference import restore_whole

    torch.set_num_threads(1)
    results = {}
    for source in args.networks:
        net = load(source)
        rows = {}
        for k, level in enumerate(args.levels):
            x = flat_input(net.in_channels, level, args.size, args.sigma, seed=k)
            with torch.no_grad():
                out = restore_whole(net, x, int(getattr(net, 'size_multiple', 1)))[0, :, 16:-16, 16:-16]
            rows[level] = {
                'std': round(float(out.std()) * 255, 2),
                'rmse': round(float((out.clamp(0, 1) - level).pow(2).mean().sqrt()) * 255, 2),
            }
        results[source] = rows
        cells = [f'{level:g}: std {r["std"]:7.1f} rmse {r["rmse"]:6.1f}' for level, r in rows.items()]
        print(f'{source:40s}', ' | '.join(cells))
        if args.trace:
            top, ref = max(args.levels), args.reference
            bright = largest_activations(net, flat_input(net.in_channels, top, args.size, args.sigma, 0))
            dim = largest_activations(net, flat_input(net.in_channels, ref, args.size, args.sigma, 1))
            for name, value in bright.items():
                if value > 3 * dim[name] and value > 5:
                    print(f'    {name:28s} largest activation {value:9.1f} at {top:g}, {dim[name]:7.1f} at {ref:g}')
    return results


if __name__ == '__main__':
    run(main)
