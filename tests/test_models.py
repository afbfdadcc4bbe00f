import pytest
import torch

from mmdc_lib.models import MMDCNet, parameter_groups


@pytest.mark.parametrize("network,channels,size", [("small", 1, 16), ("vgg", 1, 32), ("resnet18", 3, 32), ("small", 3, 64)])
def test_every_network_gives_unit_embeddings_and_four_rotation_logits(network, channels, size):
    model = MMDCNet(network, channels, embedding_dim=7).eval()
    with torch.no_grad():
        features = model.features(torch.rand(2, channels, size, size))
        embeddings = model.embed_features(features)
        logits = model.rotation_head(features)
    assert embeddings.shape == (2, 7) and torch.allclose(embeddings.norm(dim=1), torch.ones(2), atol=1e-5)
    assert logits.shape == (2, 4)


def test_resnet18_has_a_3x3_stride_1_stem_and_no_max_pool():
    model = MMDCNet("resnet18", 3, 10)
    assert model.backbone.conv1.kernel_size == (3, 3) and model.backbone.conv1.stride == (1, 1)
    assert isinstance(model.backbone.maxpool, torch.nn.Identity)


def test_weight_decay_applies_only_to_weights_with_more_than_one_dimension():
    decay, no_decay = parameter_groups(MMDCNet("small", 1, 10), 5e-4)
    assert all(p.ndim > 1 for p in decay["params"]) and all(p.ndim <= 1 for p in no_decay["params"])
    assert decay["weight_decay"] == 5e-4 and no_decay["weight_decay"] == 0.0


def test_unknown_network_is_rejected():
    with pytest.raises(ValueError, match="unknown network 'alexnet'"):
        MMDCNet("alexnet", 3, 10)
