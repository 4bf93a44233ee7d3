"""How a restoration model validates and tests: BatchNorm statistics brought up to date before
each validation and save (``val: recalibrate_bn``, the EMA net's copied from the trained net's),
whole-image restoration (``val: pad_multiple``, ``val: self_ensemble``, tiles where an image does
not fit in free memory), and BasicSR's validation that also keeps every image's metrics."""

from __future__ import annotations

import functools
import math
import os
from typing import Any

import torch
from basicsr.data import build_dataset
from basicsr.metrics import calculate_metric
from basicsr.utils import get_root_logger, tensor2img
from torch import nn
from tqdm import tqdm

from ..bn_recalibration import calibration_batches, recalibrate_batchnorm
from ..checkpoint import rng_kept
from ..files import write_image
from ..inference import mean_scores, restore_whole
from ..memory import restore_within_memory


class WholeImageValidation:
    """Mixed into :class:`.restoration_model.RestorationModel` (before BasicSR's SRModel)."""

    # ------------------------------------------------- BatchNorm statistics
    def recalibrate_batchnorm(self) -> None:
        """The nets' BatchNorm statistics brought up to date, once per state of the weights: the
        EMA net's copied from the trained net's (``train: ema_decay`` in :mod:`.restoration_model`), then with ``val:
        recalibrate_bn: N`` both averaged over N train batches, under training's random states."""
        if not self.is_train or self.recalibrated_after == self.guard.attempted:
            return
        nets = [self.get_bare_model(self.net_g)] + ([self.net_g_ema] if hasattr(self, 'net_g_ema') else [])
        trained = dict(nets[0].named_buffers())
        for ema in nets[1:]:
            for key, buffer in ema.named_buffers():
                buffer.copy_(trained[key])
        count = (self.opt.get('val') or {}).get('recalibrate_bn')
        if count:
            with rng_kept():
                if self.calibration is None:
                    train_set = self.opt['datasets']['train']
                    seed = self.opt.get('manual_seed') or 0
                    size = train_set['batch_size_per_gpu']
                    batches = calibration_batches(build_dataset(train_set), count, size, seed)
                    self.calibration = [self.to_device(x) for x in batches]
                with self.autocast():
                    layers = sum(recalibrate_batchnorm(net, self.calibration) for net in nets)
            if self.recalibrated_after is None:
                get_root_logger().info(f'val: recalibrate_bn: {layers} BatchNorm layers, over {count} train batches')
        self.recalibrated_after = self.guard.attempted

    def validation(self, dataloader: Any, current_iter: Any, tb_logger: Any, save_img: bool = False) -> None:
        self.recalibrate_batchnorm()
        super().validation(dataloader, current_iter, tb_logger, save_img)

    def save(self, epoch: int, current_iter: int) -> None:
        self.recalibrate_batchnorm()
        super().save(epoch, current_iter)

    # ----------------------------------------------------------------- test
    def restore(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Whole-image inference with ``val: pad_multiple`` and ``val: self_ensemble``, in tiles
        where the image does not fit in free memory (``val: tile: false`` refuses instead)."""
        val_opt = self.opt.get('val') or {}
        pad, ensemble = int(val_opt.get('pad_multiple') or 1), bool(val_opt.get('self_ensemble'))
        multiple = math.lcm(pad, int(getattr(net, 'size_multiple', 1)))
        whole = functools.partial(restore_whole, net, multiple=pad, ensemble=ensemble)
        return restore_within_memory(whole, net, x, multiple, val_opt.get('tile', True), get_root_logger().warning)

    def test(self) -> None:
        if hasattr(self, 'net_g_ema'):
            net = self.net_g_ema
        else:
            net = self.get_bare_model(self.net_g)
        was_training = net.training
        net.eval()
        with torch.no_grad(), self.autocast(training=False):
            self.output = self.restore(net, self.lq)
        net.train(was_training)

    def nondist_validation(self, dataloader: Any, current_iter: Any, tb_logger: Any, save_img: bool) -> None:
        """BasicSR's validation (same outputs, metrics, log and saved images) that also keeps
        ``validation_results[test set] = {'average': ..., 'images': {image: {metric: value,
        'output': saved file}}}``."""
        dataset_name = dataloader.dataset.opt['name']
        metric_opts = self.opt['val'].get('metrics') or {}
        if metric_opts:
            self._initialize_best_metric_results(dataset_name)
        images = {}
        pbar = tqdm(total=len(dataloader), unit='image') if self.opt['val'].get('pbar', False) else None
        for val_data in dataloader:
            img_name = os.path.splitext(os.path.basename(val_data['lq_path'][0]))[0]
            self.feed_data(val_data)
            self.test()
            metric_data = {'img': tensor2img([self.output.detach().cpu()])}
            if hasattr(self, 'gt'):
                metric_data['img2'] = tensor2img([self.gt.detach().cpu()])
                del self.gt
            del self.lq, self.output
            torch.cuda.empty_cache()
            images[img_name] = {name: float(calculate_metric(metric_data, m)) for name, m in metric_opts.items()}
            if save_img:
                images[img_name]['output'] = self.saved_image_path(dataset_name, img_name, current_iter)
                write_image(metric_data['img'], images[img_name]['output'])
            if pbar:
                pbar.update(1)
                pbar.set_description(f'Test {img_name}')
        if pbar:
            pbar.close()
        self.metric_results = mean_scores(images, metric_opts)
        self.validation_results[dataset_name] = {'average': dict(self.metric_results), 'images': images}
        if metric_opts:
            for metric, value in self.metric_results.items():
                self._update_best_metric_result(dataset_name, metric, value, current_iter)
            self._log_validation_metric_values(current_iter, dataset_name, tb_logger)

    def saved_image_path(self, dataset_name: str, img_name: str, current_iter: Any) -> str:
        """Where BasicSR's validation saves an output: per image and iteration when training, per
        test set with ``val: suffix`` (else the run's name) when testing."""
        folder = self.opt['path']['visualization']
        if self.opt['is_train']:
            return os.path.join(folder, img_name, f'{img_name}_{current_iter}.png')
        return os.path.join(folder, dataset_name, f'{img_name}_{self.opt["val"].get("suffix") or self.opt["name"]}.png')
