import json

import pytest

from mmdc_lib.config import PRESETS, MMDCConfig, preset


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_valid_and_survives_a_json_round_trip(name):
    config = preset(name).validate()
    assert MMDCConfig.from_dict(json.loads(config.to_json())) == config


def test_an_aspect_ratio_range_survives_a_json_round_trip_as_a_tuple():
    config = preset("fashion-mnist")
    config.augment.aspect_ratio = [0.75, 4 / 3]
    config.validate()
    assert config.augment.aspect_ratio == (0.75, 4 / 3)
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


# --- validation names the setting --------------------------------------------------
import dataclasses

import numpy as np

from mmdc_lib.config import AugmentConfig


@pytest.mark.parametrize(
    "changes,error,message",
    [
        ({"weight_decay": -1e-4}, ValueError, "weight_decay=-0.0001 should be a finite number >= 0"),
        ({"epochs": 40, "refine_epoch": 40}, ValueError, r"refine_epoch=40 should be < epochs=40 \(refinement would never run\)"),
        ({"network": "vgg", "input_size": 8}, ValueError, "network='vgg' halves the image four times and needs input_size >= 16, got 8"),
        ({"lr": float("nan")}, ValueError, "lr=nan should be a finite number > 0"),
        ({"seed": -1}, ValueError, r"seed=-1 should be in \[0, 2\*\*32\)"),
        ({"seed": 2**32}, ValueError, r"seed=4294967296 should be in \[0, 2\*\*32\)"),
        ({"seed": None}, TypeError, "seed should be an int"),
        ({"seed": "0"}, TypeError, "seed should be an int"),
        ({"seed": 1.0}, TypeError, "seed should be an int"),
        ({"epochs": 10, "warmup_epochs": 10}, ValueError, r"warmup_epochs=10 should be < epochs=10 \(no epoch would cluster\)"),
        ({"warmup_epochs": -1}, ValueError, "warmup_epochs=-1 should be >= 0"),
        ({"warmup_epochs": 2.5}, TypeError, "warmup_epochs should be an int"),
        ({"warmup_epochs": 2, "rotation": "none"}, ValueError,
         "warmup_epochs=2 trains the rotation task alone and needs rotation='joint' or 'alternating'"),
        ({"warmup_epochs": 5, "refine_epoch": 3}, ValueError, "refine_epoch=3 should be >= warmup_epochs=5"),
        ({"assignment": "greedy"}, ValueError, r"assignment='greedy' should be one of \('hungarian', 'nearest', 'fixed'\)"),
        ({"target_counts": "equal"}, ValueError, r"target_counts='equal' should be one of \('random', 'balanced'\)"),
        ({"augment": AugmentConfig(crop_scale=(-0.5, 1.0))}, ValueError, r"crop_scale\[0\]=-0.5 should be a finite number > 0"),
        ({"augment": AugmentConfig(crop_scale=(1.0, 0.5))}, ValueError, r"crop_scale=\(1.0, 0.5\) should be ordered"),
        ({"augment": AugmentConfig(aspect_ratio=(1.5, 0.75))}, ValueError, r"aspect_ratio=\(1.5, 0.75\) should be ordered"),
        ({"augment": AugmentConfig(aspect_ratio=(0.0, 1.0))}, ValueError, r"aspect_ratio\[0\]=0.0 should be a finite number > 0"),
        ({"augment": AugmentConfig(aspect_ratio=1.2)}, TypeError, r"aspect_ratio should be a pair \(low, high\), got 1.2"),
        ({"augment": AugmentConfig(crop_sizes=(0.5,), eval_crop=0.5, aspect_ratio=(0.75, 1.25))}, ValueError,
         r"aspect_ratio=\(0.75, 1.25\) applies to our pipeline only"),
        ({"augment": AugmentConfig(grayscale_p=1.5)}, ValueError, "grayscale_p=1.5 should be a finite number >= 0 and <= 1"),
        ({"augment": AugmentConfig(cutout=1.5)}, ValueError, "cutout=1.5 should be a finite number >= 0 and <= 1"),
        ({"augment": AugmentConfig(color_jitter=(0.4, 0.4, 0.4, 0.9))}, ValueError, "hue=0.9 should be <= 0.5"),
        ({"augment": AugmentConfig(color_jitter=(0.4, -0.4, 0.4, 0.1))}, ValueError, "color_jitter contrast=-0.4 should be"),
    ],
)
def test_invalid_settings_are_named_by_validate(changes, error, message):
    with pytest.raises(error, match=message):
        dataclasses.replace(preset("digits"), **changes).validate()


def test_numpy_numbers_are_accepted_and_stored_as_python_numbers():
    config = dataclasses.replace(
        preset("digits"), n_clusters=np.int64(4), epochs=np.int32(3), batch_size=np.int64(16), lr=np.float32(0.05),
        lr_milestones=(np.int64(2),), seed=np.uint32(7), weight_decay=np.float64(1e-4),
    ).validate()
    assert type(config.n_clusters) is int and type(config.lr) is float and type(config.seed) is int
    assert json.loads(config.to_json())["n_clusters"] == 4


def test_presets_do_not_share_their_augmentation_objects():
    first = preset("cifar10")
    first.augment.hflip = False
    assert preset("cifar100-20").augment.hflip and preset("cifar10").augment.hflip


def test_crop_scale_may_be_a_numpy_pair_and_sigma_must_be_a_number():
    assert AugmentConfig(crop_scale=np.array([0.5, 1.0])).validate().crop_scale == (0.5, 1.0)
    with pytest.raises(TypeError, match="sigma should be a number, got str"):
        dataclasses.replace(preset("digits"), sigma="0.1").validate()


def test_the_peers_table_covers_every_benchmark_and_agrees_with_the_paper_for_mmdc():
    from mmdc_lib.published import MMDC_TABLE_1, PEERS

    for peer in PEERS:
        assert set(peer.scores) == set(MMDC_TABLE_1), peer.method
        for acc, nmi in peer.scores.values():
            assert 0 < acc < 1 and (nmi is None or 0 < nmi < 1), peer.method
    assert next(peer for peer in PEERS if peer.method == "MMDC").scores == MMDC_TABLE_1
