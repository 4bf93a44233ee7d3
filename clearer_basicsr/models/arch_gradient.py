"""Gradients of the validation loss with respect to the architecture logits (DARTS-style).

``first_order``: d L_val(w, a) / d a at the current weights (the paper).
``second_order``: DARTS' unrolled approximation of d L_val(w', a) / d a with
w' = w - xi * dL_train(w, a)/dw (a virtual SGD step), whose Hessian-vector term is estimated by
central differences: (dL_train(w+, a)/da - dL_train(w-, a)/da) / (2 eps),
w+- = w +- eps * dL_val(w', a)/dw', eps = 0.01 / ||dL_val/dw'||.

Both only fill ``a.grad``; the caller reduces, clips and steps. ``loss_fn(net_output, batch)``
returns the data term; ``arch_loss_fn()`` the logit-only regulariser (may be 0).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence

import torch
from torch import nn
from torch.func import functional_call

Batch = dict[str, torch.Tensor]
LossFn = Callable[[torch.Tensor, Batch], dict[str, torch.Tensor]]
ArchLossFn = Callable[[], dict[str, torch.Tensor]]


@contextlib.contextmanager
def frozen(params: Iterable[nn.Parameter]) -> Iterator[None]:
    """``requires_grad`` off for ``params`` (those that had it) for the duration."""
    params = [p for p in params if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def first_order(
    net: nn.Module,
    arch_params: Sequence[nn.Parameter],
    batch: Batch,
    loss_fn: LossFn,
    arch_loss_fn: ArchLossFn,
    scale_loss: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Backward of the validation loss into the logits only; ``scale_loss`` is a GradScaler's
    ``scale`` method under fp16. Returns the loss terms.

    The other parameters are frozen meanwhile, so autograd records nothing for them: no weight
    gradient is computed, and the layers before the first logit (stem, first transition) keep
    no activations for backward."""
    arch_ids = {id(p) for p in arch_params}
    with frozen(p for p in net.parameters() if id(p) not in arch_ids):
        losses = loss_fn(net(batch['lq']), batch)
        losses.update(arch_loss_fn())
        total = sum(losses.values())
        (scale_loss(total) if scale_loss else total).backward(inputs=list(arch_params))
    return losses


def second_order(
    net: nn.Module,
    arch_params: Sequence[nn.Parameter],
    weight_params: Sequence[nn.Parameter],
    val_batch: Batch,
    train_batch: Batch,
    loss_fn: LossFn,
    arch_loss_fn: ArchLossFn,
    xi: float,
    weight_decay: float = 0.0,
) -> dict[str, torch.Tensor]:
    """Fills ``a.grad`` with the unrolled gradient; returns the validation loss terms at w'.

    ``net`` must be the bare module (no DDP wrapper). Its parameters are left as they were;
    BatchNorm running statistics are updated on copies, not on the module."""
    names = {p: n for n, p in net.named_parameters()}
    w_names = [names[p] for p in weight_params]
    a_names = [names[p] for p in arch_params]
    buffers = {n: b.clone() for n, b in net.named_buffers()}

    def run(weights: Sequence[torch.Tensor], batch: Batch) -> dict[str, torch.Tensor]:
        state = dict(zip(w_names, weights), **dict(zip(a_names, arch_params)), **buffers)
        return loss_fn(functional_call(net, state, (batch['lq'],)), batch)

    weights = [p.detach() for p in weight_params]
    # Virtual step w' = w - xi * (dL_train/dw + wd * w).
    train_loss = sum(run(weight_params, train_batch).values())
    grads = torch.autograd.grad(train_loss, weight_params, allow_unused=True)
    unrolled = [
        (w - xi * ((g if g is not None else 0) + weight_decay * w)).requires_grad_() for w, g in zip(weights, grads)
    ]

    val_losses = run(unrolled, val_batch)
    val_losses.update(arch_loss_fn())
    val_total = sum(val_losses.values())
    outs = torch.autograd.grad(val_total, list(arch_params) + unrolled, allow_unused=True)
    d_arch, d_unrolled = outs[: len(arch_params)], outs[len(arch_params) :]
    d_unrolled = [g if g is not None else torch.zeros_like(w) for g, w in zip(d_unrolled, weights)]

    norm = torch.sqrt(sum((g * g).sum() for g in d_unrolled))
    eps = 0.01 / (norm + 1e-12)

    def arch_grad_at(sign: float) -> tuple[torch.Tensor | None, ...]:
        shifted = [w + sign * eps * g for w, g in zip(weights, d_unrolled)]
        loss = sum(run(shifted, train_batch).values())
        return torch.autograd.grad(loss, arch_params, allow_unused=True)

    g_plus, g_minus = arch_grad_at(1.0), arch_grad_at(-1.0)
    for a, d, gp, gm in zip(arch_params, d_arch, g_plus, g_minus):
        d = d if d is not None else torch.zeros_like(a)
        hessian_term = ((gp if gp is not None else 0) - (gm if gm is not None else 0)) / (2 * eps)
        grad = (d - xi * hessian_term).detach()
        a.grad = grad if a.grad is None else a.grad + grad
    return {k: v.detach() for k, v in val_losses.items()}
