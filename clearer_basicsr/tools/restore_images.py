"""The work of clearer-infer (:mod:`.infer`, whose docstring is the user's manual): find the
images, load the network, restore each image whole, in memory-bounded tiles or by opponent colour
channel, and write the PNGs."""

from __future__ import annotations

import argparse
import math
import os
import time
from collections import Counter
from collections.abc import Sequence

import cv2
import numpy as np
import torch
from basicsr.utils import img2tensor, tensor2img
from tqdm import tqdm

from clearer_basicsr.data.data_util import IMG_EXTENSIONS, bgr_to_luma, image_header_size, list_images
from clearer_basicsr.errors import UserInputError
from clearer_basicsr.files import write_image
from clearer_basicsr.inference import by_opponent_channel, restore_tiled, restore_whole
from clearer_basicsr.memory import restore_within_memory, round_up
from clearer_basicsr.tools.trained_net import load_source_network, network_channels


def find_images(source: str, output: str) -> tuple[str, list[str]]:
    """``(folder, image paths relative to it)`` of ``--input``, a folder (searched with its
    sub-folders, ``output`` left out) or one image file."""
    if os.path.isfile(source):
        return os.path.dirname(source), [os.path.basename(source)]
    if not os.path.isdir(source):
        raise UserInputError(f'--input {source!r}: no such file or folder')
    out = os.path.realpath(output)
    names = [
        name
        for name in list_images(source, recursive=True)
        if not os.path.realpath(os.path.join(source, name)).startswith(out + os.sep)
    ]
    if not names:
        raise UserInputError(
            f'--input {source!r}: no images in it; expected files ending in {", ".join(IMG_EXTENSIONS)}'
        )
    return source, names


def output_names(inputs: Sequence[str]) -> dict[str, str]:
    """The PNG each input (relative path) is written to, never the same for two inputs: the input's
    path with .png for its extension; where inputs of one folder share a stem, their full names
    plus .png; a counter separates whatever still clashes."""
    stems = Counter(os.path.splitext(name)[0] for name in inputs)
    names, taken = {}, set()
    for name in inputs:
        stem = os.path.splitext(name)[0]
        base = stem if stems[stem] == 1 else name
        out, k = f'{base}.png', 1
        while out in taken:
            out, k = f'{base}_{k}.png', k + 1
        taken.add(out)
        names[name] = out
    return names


def read_image(path: str, channels: int, keep_colour: bool = False) -> np.ndarray:
    """H x W x ``channels`` uint8 as BasicSR's datasets hold images (BGR for colour, full-range luma
    for gray); with ``keep_colour``, a colour image stays BGR whatever ``channels``."""
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise UserInputError(f'{path}: not a readable image')
    if img.dtype == np.uint16:
        img = (img / 257).round().astype(np.uint8)
    elif img.dtype != np.uint8:
        raise UserInputError(f'{path}: {img.dtype} pixels; expected an 8- or 16-bit image')
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]  # alpha dropped
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    colour = img.ndim == 3 and bool((img != img[..., :1]).any())  # an RGB file of a gray image is gray
    if channels == 1 and not (keep_colour and colour):
        return bgr_to_luma(img)[..., None]
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if img.ndim == 2 else img


def restore_images(args: argparse.Namespace) -> dict[str, str]:
    """:func:`.infer.main`'s work on its parsed, checked arguments; returns ``{input path: output path}``."""
    root, inputs = find_images(args.input, args.output)
    sizes = {}
    for name in inputs:  # every image readable before any work
        try:
            sizes[name] = image_header_size(os.path.join(root, name))
        except ValueError as err:
            raise UserInputError(f'{os.path.join(root, name)}: {err}') from None
    net, opt = load_source_network(args)
    device = torch.device(('cuda' if torch.cuda.is_available() else 'cpu') if args.device == 'auto' else args.device)
    net = net.to(device)
    channels = network_channels(opt)
    if args.keep_colour and channels != 1:
        raise UserInputError(
            f'--keep_colour: only for a 1-channel network; this one takes {channels} channels and '
            'restores colour images in colour already'
        )
    colour = by_opponent_channel(net)
    multiple = math.lcm(int(getattr(net, 'size_multiple', 1)), int((opt.get('val') or {}).get('pad_multiple') or 1))

    def restore(x: torch.Tensor) -> torch.Tensor:  # a colour image to a gray net: --keep_colour
        return restore_whole(net if x.shape[1] == channels else colour, x, multiple, args.self_ensemble)

    tile = context = None
    if args.tile:
        tile, context = round_up(args.tile, multiple), round_up(args.tile_overlap, multiple)
        if (tile, context) != (args.tile, args.tile_overlap):
            print(f'--tile {tile} --tile_overlap {context}: rounded up to multiples of {multiple}, the size multiple')

    names = output_names(inputs)
    blocks = sum(math.ceil(h / tile) * math.ceil(w / tile) if tile else 1 for h, w in sizes.values())
    written, start = {}, time.perf_counter()
    with torch.no_grad(), tqdm(total=blocks, unit='tile' if tile else 'image') as bar:
        for name in inputs:
            bar.set_postfix_str(name)
            img = read_image(os.path.join(root, name), channels, args.keep_colour)
            x = img2tensor(img.astype(np.float32) / 255.0, bgr2rgb=True, float32=True)[None].to(device)
            if tile:
                y = restore_tiled(restore, x, tile, context, bar)
            else:
                y = restore_within_memory(restore, net, x, multiple, args.tile is None, bar.write, name, channels)
                bar.update(1)
            written[os.path.join(root, name)] = os.path.join(args.output, names[name])
            write_image(tensor2img(y.cpu()), written[os.path.join(root, name)])
    seconds = time.perf_counter() - start
    megapixels = sum(h * w for h, w in sizes.values()) / 1e6
    print(
        f'{len(inputs)} image(s), {megapixels:.2f} MP, restored in {seconds:.1f} s ({seconds / len(inputs):.2f} s per '
        f'image, {megapixels / seconds:.3f} MP/s on {device}) -> {args.output}'
    )
    return written
