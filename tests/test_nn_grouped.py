"""GroupedFCLayers: one batched product equals separate per-group MLPs."""

import pytest


def test_grouped_fc_layers_equal_separate_mlps():
    import torch
    from torch.nn import functional as F

    from remadom.nn import GroupedFCLayers

    torch.manual_seed(0)
    layer = GroupedFCLayers(3, 7, 5, n_layers=2, dropout_rate=0.0).eval()
    x = torch.randn(3, 11, 7)
    out = layer(x)
    assert out.shape == (3, 11, 5)
    for g in range(3):  # group g alone, written as ordinary Linear -> LayerNorm -> ReLU layers
        h = x[g]
        for w, b, lw, lb in zip(layer.weights, layer.biases, layer.ln_weights, layer.ln_biases, strict=True):
            h = torch.relu(F.layer_norm(F.linear(h, w[g].T, b[g, 0]), (5,), lw[g, 0], lb[g, 0]))
        torch.testing.assert_close(out[g], h)
    with pytest.raises(ValueError, match="expected input of shape"):
        layer(torch.randn(2, 11, 7))
