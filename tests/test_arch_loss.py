"""CLEARERArchLoss: the entropy term pushes columns to 0/1; the complexity term to cheaper modules."""

import pytest
import torch

from clearer_basicsr.archs.clearer_arch import CLEARERSearchNet
from clearer_basicsr.archs.complexity import cost_matrix
from clearer_basicsr.losses.arch_loss import CLEARERArchLoss, column_entropy
from clearer_basicsr.models.search_options import check_darts_train
from clearer_basicsr.option_rules import OptionError


def test_entropy_gradient_moves_a_06_04_column_towards_1_0():
    logits = torch.log(torch.tensor([[0.6, 0.4]])).requires_grad_()
    loss = CLEARERArchLoss(lambda_arch=0.01)
    loss(torch.softmax(logits, -1))['l_arch_entropy'].backward()
    stepped = torch.softmax(logits - 10.0 * logits.grad, -1)
    assert logits.grad[0, 0] < 0 < logits.grad[0, 1]  # descent raises the larger weight
    assert stepped[0, 0] > 0.6


def test_entropy_is_maximal_at_uniform_and_zero_at_one_hot():
    assert column_entropy(torch.tensor([[0.5, 0.5]])) == pytest.approx(torch.log10(torch.tensor(2.0)).item())
    assert column_entropy(torch.tensor([[1.0, 0.0]])) == pytest.approx(0.0, abs=1e-9)


def test_large_lambda_comp_without_data_signal_moves_logits_to_the_cheaper_module():
    net = CLEARERSearchNet(branch_channels=(4, 8, 16), columns_per_cell=2, stem_blocks=1, stem_width=2)
    costs = cost_matrix(net, 16, 'flops')
    loss = CLEARERArchLoss(lambda_arch=0.0, lambda_comp=10.0, complexity='flops')
    loss.set_costs(costs)
    logits = torch.zeros(net.num_columns, 2, requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.05)
    for _ in range(20):
        opt.zero_grad()
        sum(loss(torch.softmax(logits, -1)).values()).backward()
        opt.step()
    assert torch.equal(logits.argmax(-1), costs.argmin(-1))


def test_lambda_comp_without_costs_is_refused_before_a_step():
    with pytest.raises(OptionError, match='lambda_comp = 0.1 needs a complexity metric'):
        check_darts_train({'arch_loss': {'type': 'CLEARERArchLoss', 'lambda_comp': 0.1}}, 'train')
    check_darts_train(
        {'arch_loss': {'type': 'CLEARERArchLoss', 'lambda_comp': 0.1}, 'budget': {'metric': 'macs', 'target': 0.5}},
        'train',
    )
    with pytest.raises(RuntimeError, match='call set_costs'):  # used bare, the loss says what it lacks
        CLEARERArchLoss(lambda_comp=0.1)(torch.full((2, 2), 0.5))
