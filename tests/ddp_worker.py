"""Run by test_entry_points through torch.distributed.launch: the plugin's training entry point
under ``--launcher pytorch`` (gloo on the CPU; the launcher adds --local-rank=N to the command
line), then every rank reports its final logits."""

import os

import torch
import torch.distributed as dist

from clearer_basicsr.train import train_pipeline

model = train_pipeline(os.getcwd())
logits = model.supernet.arch_logits.detach().clone()
gathered = [torch.empty_like(logits) for _ in range(dist.get_world_size())]
dist.all_gather(gathered, logits)
if dist.get_rank() == 0:
    torch.save({'logits': gathered, 'initial': model.column_weight_history[0][1]}, 'ddp_logits.pt')
dist.barrier()
dist.destroy_process_group()
