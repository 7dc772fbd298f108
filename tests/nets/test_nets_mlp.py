"""nets.mlp: the one MLP builder and the stacked ensemble."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mimetic.nets import StackedMLP, mlp


def test_mlp_layout_keys_and_weights_match_a_hand_written_sequential() -> None:
    torch.manual_seed(5)
    built = mlp((4, 8, 6, 3), "tanh")
    torch.manual_seed(5)
    by_hand = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 6), nn.Tanh(), nn.Linear(6, 3))
    assert [type(m) for m in built] == [type(m) for m in by_hand]  # no activation after the output
    assert list(built.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert all(torch.equal(a, b) for a, b in zip(built.state_dict().values(), by_hand.state_dict().values()))


def test_mlp_output_activation_and_linear_case() -> None:
    squashed = mlp((2, 5, 1), "relu", out_activation="tanh")
    assert isinstance(squashed[-1], nn.Tanh) and isinstance(squashed[1], nn.ReLU)
    assert float(squashed(torch.full((7, 2), 1e3)).detach().abs().max()) <= 1.0
    linear = mlp((3, 2), "relu")
    assert len(linear) == 1 and isinstance(linear[0], nn.Linear)
    with pytest.raises(ValueError, match="at least an input and an output"):
        mlp((3,), "relu")


def test_stacked_mlp_members_are_independent_mlps() -> None:
    torch.manual_seed(0)
    net = StackedMLP((3, 4, 2), k=3, activation="tanh")
    x = torch.randn(5, 3)  # (B, O)
    out = net(x)  # (K, B, 2)
    assert out.shape == (3, 5, 2)
    for k in range(3):
        h = torch.tanh(x @ net.weights[0][k] + net.biases[0][k])
        assert torch.allclose(out[k], h @ net.weights[1][k] + net.biases[1][k], atol=1e-6)
    assert list(net.state_dict()) == ["weights.0", "weights.1", "biases.0", "biases.1"]
    bound = 1 / 3**0.5  # nn.Linear's init range for fan_in 3
    assert float(net.weights[0].detach().abs().max()) <= bound and float(net.biases[0].detach().abs().max()) <= bound
