"""python -m clearer_basicsr.export: ONNX and TorchScript give PyTorch's output at sizes other than the
one exported with, odd sizes included (the graph pads to the size multiple and crops back itself,
through the same padding as the network and whole-image restoring)."""

import numpy as np
import onnxruntime
import pytest
import torch
from helpers import MACRO_GENOTYPE, option_file_for, trained_net

from clearer_basicsr.errors import UserInputError
from clearer_basicsr.inference import restore_whole
from clearer_basicsr.tools.export import main as export


@pytest.mark.parametrize('genotype', [None, MACRO_GENOTYPE], ids=['paper space', 'macro space'])
def test_onnx_and_torchscript_match_pytorch_on_odd_sizes(tmp_path, genotype):
    net = trained_net(in_channels=3, genotype=genotype)
    option = option_file_for(tmp_path, net)
    onnx_file, script_file = str(tmp_path / 'net.onnx'), str(tmp_path / 'net.pt')
    checked = export(['-opt', option, '--onnx', onnx_file, '--torchscript', script_file])
    assert set(checked) == {onnx_file, script_file} and max(checked.values()) < 1e-5
    session = onnxruntime.InferenceSession(onnx_file, providers=['CPUExecutionProvider'])
    scripted = torch.jit.load(script_file)
    # batch, height and width all differ from the export's; 2 x 3 is smaller than the size multiple,
    # so reflection cannot reach the whole padding and replication finishes it
    for shape in ((1, 3, 37, 29), (3, 3, 21, 50), (1, 3, 2, 3)):
        x = torch.rand(shape)
        with torch.no_grad():
            expected = net(x)
            assert (restore_whole(net, x, net.size_multiple) - expected).abs().max() < 1e-5
            assert (scripted(x) - expected).abs().max() < 1e-5
        (onnx_out,) = session.run(None, {'input': x.numpy()})
        assert onnx_out.shape == shape and np.abs(onnx_out - expected.numpy()).max() < 1e-5


def test_nothing_to_export_is_bad_input(tmp_path):
    with pytest.raises(UserInputError, match='nothing to export'):
        export(['-opt', option_file_for(tmp_path, trained_net())])
