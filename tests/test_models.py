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


# Figures from the authors' code (guysrn/mmdc at 9cd5eb0, architectures/): counted with their classes.
AUTHORS_RESNET18_PARAMETERS = {10: 11_176_014, 20: 11_181_144}  # both heads (embedding k, rotation 4)
AUTHORS_VGG_PARAMETERS = 398_570  # MNIST, 1 channel, d = 10; their VGG has no rotation head


@pytest.mark.parametrize("k", [10, 20])
def test_resnet18_has_the_authors_parameter_count(k):
    model = MMDCNet("resnet18", 3, k)
    assert sum(p.numel() for p in model.parameters()) == AUTHORS_RESNET18_PARAMETERS[k]


@pytest.mark.parametrize("size,side", [(32, 17), (64, 33)])
def test_resnet18_stem_is_3x3_stride_1_then_the_authors_padded_max_pool(size, side):
    backbone = MMDCNet("resnet18", 3, 10).backbone.eval()
    assert backbone.conv1.kernel_size == (3, 3) and backbone.conv1.stride == (1, 1)
    with torch.no_grad():
        stem = backbone.maxpool(backbone.relu(backbone.bn1(backbone.conv1(torch.zeros(1, 3, size, size)))))
    assert stem.shape == (1, 64, side, side)  # 32 px -> 17x17 before layer1, as the authors


def test_vgg_is_the_authors_small_vgg_flattened_into_a_1024_feature_head():
    model = MMDCNet("vgg", 1, 10, input_size=32)
    assert model.embedding_head.in_features == 1024
    without_our_rotation_head = sum(p.numel() for p in model.parameters()) - sum(p.numel() for p in model.rotation_head.parameters())
    assert without_our_rotation_head == AUTHORS_VGG_PARAMETERS


def test_authors_networks_use_the_authors_initialisation():
    model = MMDCNet("resnet18", 3, 10)
    conv = model.backbone.layer1[0].conv1.weight  # 64 x 64 x 3 x 3: Kaiming normal, fan-in, std sqrt(2 / 576)
    assert abs(conv.std().item() - (2 / 576) ** 0.5) < 0.003
    assert abs(model.embedding_head.weight.std().item() - 0.01) < 0.001 and not model.embedding_head.bias.any()
    assert abs(model.rotation_head.weight.std().item() - 0.01) < 0.002 and not model.rotation_head.bias.any()
    small = MMDCNet("small", 1, 10)  # ours keeps PyTorch's default initialisation
    assert small.embedding_head.bias.any()


def test_forward_gives_embeddings_and_rotation_logits_from_one_backbone_pass():
    model = MMDCNet("small", 1, 5).eval()
    images, rotated = torch.rand(3, 1, 16, 16), torch.rand(2, 1, 16, 16)
    with torch.no_grad():
        embeddings, logits = model(images, rotated)
        features = model.features(torch.cat([images, rotated]))
    assert torch.allclose(embeddings, model.embed_features(features[:3])) and logits.shape == (2, 4)
    assert model(None, rotated)[0] is None and model(images).shape == (3, 5)


def test_weight_decay_applies_only_to_weights_with_more_than_one_dimension():
    decay, no_decay = parameter_groups(MMDCNet("small", 1, 10), 5e-4)
    assert all(p.ndim > 1 for p in decay["params"]) and all(p.ndim <= 1 for p in no_decay["params"])
    assert decay["weight_decay"] == 5e-4 and no_decay["weight_decay"] == 0.0


def test_unknown_network_is_rejected():
    with pytest.raises(ValueError, match="unknown network 'alexnet'"):
        MMDCNet("alexnet", 3, 10)


def test_the_library_and_its_command_line_load_torchvision_only_for_resnet18():
    # torchvision's import loads torch._dynamo: about a second in every process (each CLI call, each test's subprocess)
    import subprocess
    import sys

    code = ("import sys, mmdc_lib, mmdc_lib.cli; print('torchvision' in sys.modules); "
            "from mmdc_lib.models import MMDCNet; MMDCNet('resnet18', 3, 10); print('torchvision' in sys.modules)")
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert printed == ["False", "True"]
