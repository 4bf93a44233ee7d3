"""The trained network of a test option file or a zoo entry, for the tools that run it outside
BasicSR's test loop (infer, export): ``network_g`` built from its registry and ``path:
pretrain_network_g`` loaded into it, as ``clearer-test`` does. The file's datasets are not read."""

from __future__ import annotations

import argparse
import os
from typing import Any

from basicsr.archs import build_network
from basicsr.utils.registry import ARCH_REGISTRY
from torch import nn

from clearer_basicsr.archs.arch_util import input_channels
from clearer_basicsr.checkpoint import saved_weights
from clearer_basicsr.errors import UserInputError
from clearer_basicsr.option_file import naming, read_option_file
from clearer_basicsr.option_rules import check_component
from clearer_basicsr.search_result import resolve_genotype_files
from clearer_basicsr.tools.zoo import entry_options


def load_trained_network(option_file: str) -> tuple[nn.Module, dict[str, Any]]:
    """``(network in eval mode on the CPU, options)``; UserInputError naming the file and key when
    the network options or the checkpoint do not work."""
    return trained_network(read_option_file(option_file), option_file)


def trained_network(opt: dict[str, Any], source: str) -> tuple[nn.Module, dict[str, Any]]:
    """:func:`load_trained_network` of options already read; errors name ``source``."""
    with naming(source):
        resolve_genotype_files(opt)
        net_cls = check_component(ARCH_REGISTRY, 'network_g', opt.get('network_g'), 'network (ARCH_REGISTRY)')
        if input_channels(opt['network_g'], net_cls) is None:
            raise UserInputError(f'network_g: {opt["network_g"]["type"]} does not say how many channels it takes')
        path = opt.get('path') or {}
        weights = path.get('pretrain_network_g')
        if not weights or not os.path.isfile(weights):
            raise UserInputError(f'path: pretrain_network_g = {weights!r}: expected the trained weights (a .pth file)')
    net = build_network(dict(opt['network_g']))
    strict = path.get('strict_load_g', True)
    net.load_state_dict(saved_weights(net, weights, strict, path.get('param_key_g', 'params')), strict=strict)
    return net.eval(), opt


def network_channels(opt: dict[str, Any]) -> int:
    """The number of image channels ``network_g`` takes."""
    return int(input_channels(opt['network_g'], ARCH_REGISTRY.get(opt['network_g']['type']))[1])


def load_source_network(args: argparse.Namespace) -> tuple[nn.Module, dict[str, Any]]:
    """:func:`load_trained_network` of ``args.opt``, or the zoo entry ``args.zoo``."""
    if args.zoo:
        return trained_network(entry_options(args.zoo), f'zoo entry {args.zoo}')
    return load_trained_network(args.opt)
