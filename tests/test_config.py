import json

import pytest

from mmdc_lib.config import PRESETS, MMDCConfig, preset


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_valid_and_survives_a_json_round_trip(name):
    config = preset(name).validate()
    assert MMDCConfig.from_dict(json.loads(config.to_json())) == config


def test_published_resnet_presets_match_the_authors_settings():
    cifar = preset("cifar10")
    assert (cifar.network, cifar.epochs, cifar.lr_milestones, cifar.lr_gamma, cifar.refine_epoch) == ("resnet18", 400, (300,), 0.2, 350)
    assert preset("cifar100-20").n_clusters == 20 and preset("cifar100-20").weight_decay == 1e-4
    assert preset("stl10").input_size == 64


def test_unknown_preset_names_the_choices():
    with pytest.raises(ValueError, match="unknown preset 'imagenet'; choose one of"):
        preset("imagenet")


def test_every_published_benchmark_row_has_a_preset():
    from mmdc_lib.published import MMDC_TABLE_1

    assert set(MMDC_TABLE_1) <= set(PRESETS)
