"""The trainer's per-epoch hook: called once per finished epoch, and it does not change the run."""
import numpy as np
import torch

from mmdc_lib.config import preset
from mmdc_lib.data import load_digits_images
from mmdc_lib.estimator import images_to_uint8_nchw
from mmdc_lib.targets import nearest_mean
from mmdc_lib.train import Trainer, mmdc_loss


def small_run():
    data = load_digits_images()
    images, _ = images_to_uint8_nchw(data.images[:200])
    config = preset("digits")
    config.epochs, config.lr_milestones = 3, (2,)
    return config, images, data.labels[:200]


def test_on_epoch_end_sees_every_epoch_and_leaves_the_result_unchanged():
    config, images, labels = small_run()
    plain = Trainer(config, images, labels=labels, device="cpu", progress=False).fit()
    seen = []

    def record(trainer, entry):
        seen.append((entry["epoch"], trainer.embed_all().shape))

    hooked = Trainer(config, images, labels=labels, device="cpu", progress=False).fit(on_epoch_end=record)
    assert seen == [(1, (200, 10)), (2, (200, 10)), (3, (200, 10))]
    assert torch.equal(plain.embeddings, hooked.embeddings)
    np.testing.assert_array_equal(plain.labels, hooked.labels)


def test_mmdc_loss_is_squared_distance_plus_weighted_rotation_cross_entropy():
    generator = torch.Generator().manual_seed(0)
    embeddings, targets = torch.randn(6, 4, generator=generator), torch.randn(6, 4, generator=generator)
    logits, turns = torch.randn(6, 4, generator=generator), torch.randint(4, (6,), generator=generator)
    total, mse, rotation = mmdc_loss(embeddings, targets, logits, turns, rotation_weight=0.25)
    expected_mse = ((embeddings - targets) ** 2).sum(dim=1).mean()
    expected_rotation = -torch.log_softmax(logits, dim=1)[torch.arange(6), turns].mean()
    assert torch.allclose(mse, expected_mse) and torch.allclose(rotation, expected_rotation)
    assert torch.allclose(total, expected_mse + 0.25 * expected_rotation)


def test_mmdc_loss_without_rotation_is_the_mse_alone():
    embeddings, targets = torch.ones(3, 2), torch.zeros(3, 2)
    total, mse, rotation = mmdc_loss(embeddings, targets)
    assert total.item() == mse.item() == 2.0 and rotation.item() == 0.0


# --- robustness ------------------------------------------------------------------
import pytest

from mmdc_lib.train import CheckpointError, TrainingDivergedError


def test_history_lr_is_the_rate_each_epoch_trained_with():
    config, images, labels = small_run()  # 3 epochs, lr x0.1 after epoch 2
    history = Trainer(config, images, device="cpu", progress=False).fit().history
    assert [entry["lr"] for entry in history] == pytest.approx([0.05, 0.05, 0.005])


@pytest.mark.parametrize("seed", [42_949, 2**32 - 1])
def test_refinement_works_for_large_seeds(seed):
    config, images, _ = small_run()
    config.seed, config.refine_epoch = seed, 1
    assert Trainer(config, images, device="cpu", progress=False).fit().labels.shape == (200,)


def test_fit_leaves_the_callers_global_torch_rng_alone():
    config, images, _ = small_run()
    config.epochs, config.lr_milestones = 1, (1,)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    Trainer(config, images, device="cpu", progress=False).fit()
    assert torch.equal(torch.rand(3), expected)


def test_divergence_stops_with_an_error_naming_the_epoch_and_the_learning_rate(tmp_path):
    config, images, _ = small_run()
    config.lr = 1e4
    with pytest.raises(TrainingDivergedError, match=r"training diverged in epoch 1: .*NaN or infinity; try a lower learning rate than lr=10000"):
        Trainer(config, images, device="cpu", out_dir=tmp_path, progress=False).fit()
    assert not (tmp_path / "checkpoint.pt").exists()


def test_divergence_during_refinement_is_detected_too():
    config, images, _ = small_run()
    config.lr, config.refine_epoch = 1e4, 0
    with pytest.raises(TrainingDivergedError, match="training diverged in epoch"):
        Trainer(config, images, device="cpu", progress=False).fit()


def test_resume_with_more_finished_epochs_than_asked_is_refused(tmp_path):
    config, images, _ = small_run()
    Trainer(config, images, device="cpu", out_dir=tmp_path, progress=False).fit()
    config.epochs = 2  # same milestones, fewer epochs
    with pytest.raises(CheckpointError, match="it has 3 finished epochs, more than the 2 asked for"):
        Trainer(config, images, device="cpu", out_dir=tmp_path, progress=False).fit(resume=True)


def test_resume_on_other_pixels_of_the_same_shape_is_refused(tmp_path):
    config, images, _ = small_run()
    config.epochs = 1
    Trainer(config, images, device="cpu", out_dir=tmp_path, progress=False).fit()
    other = images.flip(0)
    with pytest.raises(CheckpointError, match=r"other data \(200 images of shape \[1, 8, 8\], other pixels"):
        Trainer(config, other, device="cpu", out_dir=tmp_path, progress=False).fit(resume=True)


def test_checkpoint_holds_only_tensors_and_plain_values(tmp_path):
    config, images, _ = small_run()
    config.epochs = 2
    Trainer(config, images, device="cpu", out_dir=tmp_path, progress=False).fit()
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)  # raises on anything else
    assert isinstance(state["previous_labels"], torch.Tensor) and state["data"]["n_images"] == 200


def test_overwrite_removes_the_old_runs_files_before_training(tmp_path):
    config, images, _ = small_run()
    config.epochs = 1
    torch.save({"epoch": 9}, tmp_path / "checkpoint.pt")
    for name in ("metrics.json", "confusion.png", "labels.npy"):
        (tmp_path / name).write_text("old run")
    Trainer(config, images, device="cpu", out_dir=tmp_path, progress=False).fit(overwrite=True)
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["epoch"] == 1
    assert not any((tmp_path / name).exists() for name in ("metrics.json", "confusion.png", "labels.npy"))


def test_overwrite_without_a_run_in_the_folder_deletes_nothing(tmp_path):
    config, images, _ = small_run()
    config.epochs = 1
    for name in ("metrics.json", "history.png", "notes.txt"):
        (tmp_path / name).write_text("the user's own file")
    Trainer(config, images, device="cpu", out_dir=tmp_path, progress=False).fit(overwrite=True)
    assert all((tmp_path / name).read_text() == "the user's own file" for name in ("metrics.json", "history.png", "notes.txt"))


def test_a_checkpoint_that_cannot_be_written_is_an_os_error_naming_it(tmp_path, monkeypatch):
    def disk_full(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc] PytorchStreamWriter failed writing file data/0")

    config, images, _ = small_run()
    config.epochs = 1
    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match=r"cannot write the checkpoint .*checkpoint\.pt: .*failed writing file"):
        Trainer(config, images, device="cpu", out_dir=tmp_path, progress=False).fit()
    assert not (tmp_path / "checkpoint.pt.tmp").exists()


def test_resume_restores_the_lr_schedule_from_a_weights_only_checkpoint(tmp_path):
    config, images, _ = small_run()  # lr x0.1 after epoch 2 of 3
    full = Trainer(config, images, device="cpu", progress=False).fit()
    config.epochs = 2
    Trainer(config, images, device="cpu", out_dir=tmp_path, progress=False).fit()
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert type(state["scheduler"]["milestones"]) is dict  # a Counter fails weights_only loading before torch 2.4
    config.epochs = 3
    resumed = Trainer(config, images, device="cpu", out_dir=tmp_path, progress=False).fit(resume=True)
    assert [e["lr"] for e in resumed.history] == pytest.approx([e["lr"] for e in full.history])
    assert torch.equal(resumed.embeddings, full.embeddings)


def authors_pipeline_run():
    """The CIFAR-10 preset's schedule (alternating rotation, refinement, authors' augmentation, mean MSE) on a
    small network and 64 random colour images: quick on a CPU."""
    config = preset("cifar10")
    config.network, config.input_size, config.epochs, config.lr_milestones, config.refine_epoch = "small", 16, 3, (2,), 1
    config.batch_size = 16
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    return config, images


def test_authors_schedule_resumes_exactly_on_the_cpu(tmp_path):
    config, images = authors_pipeline_run()
    full = Trainer(config, images, device="cpu", progress=False).fit()
    config.epochs = 2  # stop after epoch 2 (same milestones), then continue to 3
    Trainer(config, images, device="cpu", out_dir=tmp_path, progress=False).fit()
    config.epochs = 3
    resumed = Trainer(config, images, device="cpu", out_dir=tmp_path, progress=False).fit(resume=True)
    assert torch.equal(resumed.embeddings, full.embeddings)
    assert [e["mse"] for e in resumed.history] == [e["mse"] for e in full.history]
    assert full.history[-1]["rotation_loss"] > 0


def test_refinement_keeps_each_clusters_identity_when_k_means_renames_it(monkeypatch):
    import mmdc_lib.train as train_module

    config, images = authors_pipeline_run()
    trainer = Trainer(config, images, device="cpu", progress=False)
    components = trainer.targets.argmax(dim=1).numpy()

    class RenamingKMeans:  # finds exactly the targets' clusters, under other names
        def __init__(self, *args, **kwargs):
            pass

        def fit_predict(self, embeddings):
            return (components + 3) % config.n_clusters

    monkeypatch.setattr(train_module, "KMeans", RenamingKMeans)
    before = trainer.targets.clone()
    trainer._refine_targets()
    assert torch.equal(trainer.targets, before)


def test_hungarian_assignment_keeps_each_components_targets_and_nearest_assignment_gives_the_nearest_mean():
    digits = load_digits_images()
    images, _ = images_to_uint8_nchw(digits.images[:300])
    counts = {}
    for assignment in ("hungarian", "nearest"):
        config = preset("digits")
        config.epochs, config.rotation, config.assignment = 2, "none", assignment
        trainer = Trainer(config, images, device="cpu", progress=False)
        before = torch.bincount(nearest_mean(trainer.targets, trainer.means), minlength=10)
        trainer.fit()
        counts[assignment] = (before, torch.bincount(nearest_mean(trainer.targets, trainer.means), minlength=10))
    before, after = counts["hungarian"]
    assert torch.equal(before, after)  # a batch's targets are only permuted
    before, after = counts["nearest"]
    assert not torch.equal(before, after) and (after == 0).sum() > (before == 0).sum()  # unbalanced: clusters empty out


def test_fixed_assignment_keeps_every_image_on_the_target_it_drew():
    digits = load_digits_images()
    images, _ = images_to_uint8_nchw(digits.images[:300])
    config = preset("digits")
    config.epochs, config.rotation, config.assignment = 2, "none", "fixed"
    trainer = Trainer(config, images, device="cpu", progress=False)
    before = trainer.targets.clone()
    weights = [p.clone() for p in trainer.model.parameters()]
    trainer.fit()
    assert torch.equal(trainer.targets, before)
    assert any(not torch.equal(a, b) for a, b in zip(weights, trainer.model.parameters()))  # it still trained


def test_a_checkpoint_written_before_a_setting_existed_still_resumes(tmp_path):
    config, images, _ = small_run()
    config.epochs = 2
    Trainer(config, images, device="cpu", out_dir=tmp_path, progress=False).fit()
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    del state["config"]["assignment"]  # as written before assignment= existed
    del state["config"]["target_counts"]  # ... and before target_counts=
    torch.save(state, tmp_path / "checkpoint.pt")
    config.epochs = 3
    resumed = Trainer(config, images, device="cpu", out_dir=tmp_path, progress=False).fit(resume=True)
    assert len(resumed.history) == 3
    state["config"]["assignment"] = "nearest"  # a setting that differs is still refused
    torch.save(state, tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="assignment: 'nearest' in the checkpoint, 'hungarian' now"):
        Trainer(config, images, device="cpu", out_dir=tmp_path, progress=False).fit(resume=True)


@pytest.mark.parametrize("rotation", ["joint", "alternating"])
def test_warmup_epochs_train_the_rotation_task_alone_and_leave_targets_and_embedding_head_alone(rotation):
    config, images, _ = small_run()  # 3 epochs
    config.rotation, config.warmup_epochs = rotation, 2
    trainer = Trainer(config, images, device="cpu", progress=False)
    targets, head = trainer.targets.clone(), trainer.model.embedding_head.weight.clone()
    backbone = [p.clone() for p in trainer.model.backbone.parameters()]
    trainer.config.epochs = 2  # the warm-up alone: stop when it ends
    history = trainer.fit().history
    assert torch.equal(trainer.targets, targets) and torch.equal(trainer.model.embedding_head.weight, head)
    assert any(not torch.equal(a, b) for a, b in zip(backbone, trainer.model.backbone.parameters()))
    assert [e["mse"] for e in history] == [0.0, 0.0] and all(e["rotation_loss"] > 0 for e in history)


def test_a_run_stopped_during_its_warmup_resumes_exactly(tmp_path):
    config, images, _ = small_run()  # 3 epochs
    config.warmup_epochs = 2
    full = Trainer(config, images, device="cpu", progress=False).fit()
    assert [e["mse"] == 0.0 for e in full.history] == [True, True, False]

    def stop_after_epoch_1(trainer, entry):
        if entry["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Trainer(config, images, device="cpu", out_dir=tmp_path, progress=False).fit(on_epoch_end=stop_after_epoch_1)
    resumed = Trainer(config, images, device="cpu", out_dir=tmp_path, progress=False).fit(resume=True)
    assert torch.equal(resumed.embeddings, full.embeddings)
    assert [e["rotation_loss"] for e in resumed.history] == [e["rotation_loss"] for e in full.history]


def test_fused_sgd_steps_like_plain_sgd_when_a_head_gets_its_first_gradient_late():
    """The GPU path's fused SGD: the rotation pass gives the backbone a momentum buffer before the embedding head
    has one; with the buffers filled the fused steps equal plain SGD's (without, PyTorch raised a TypeError)."""
    from mmdc_lib.train import FUSED_SGD, fill_momentum_buffers

    if not FUSED_SGD:
        pytest.skip("this PyTorch has no fused SGD")
    generator = torch.Generator().manual_seed(0)
    backbone_input, head_input = torch.randn(4, generator=generator), torch.randn(3, generator=generator)
    results = []
    for fused in (False, True):
        backbone, head = torch.nn.Parameter(torch.ones(4)), torch.nn.Parameter(torch.ones(3))
        optimizer = torch.optim.SGD([backbone, head], lr=0.1, momentum=0.9, weight_decay=5e-4, fused=fused)
        if fused:
            fill_momentum_buffers(optimizer)
        for with_head in (False, True, True):  # the rotation pass alone, then both
            optimizer.zero_grad()
            loss = (backbone * backbone_input).sum() ** 2 + ((head * head_input).sum() ** 2 if with_head else 0)
            loss.backward()
            optimizer.step()
        results.append(torch.cat([backbone.detach(), head.detach()]))
    torch.testing.assert_close(results[1], results[0])


def test_an_unknown_compile_mode_is_refused_naming_the_modes():
    config = preset("digits")
    images = torch.zeros(20, 1, 8, 8, dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"compile='fastest' should be True, False or one of \('default', 'reduce-overhead'"):
        Trainer(config, images, device="cpu", progress=False, compile="fastest")


@pytest.mark.parametrize("n_images", [71, 65])  # an uneven last batch; a last batch of one image, dropped
def test_views_made_for_several_batches_at_once_equal_the_views_made_batch_by_batch(monkeypatch, n_images):
    """The augmentation runs on several batches per call (fewer kernel launches on a GPU): the same run, bit for bit."""
    import mmdc_lib.train as train

    config, _ = authors_pipeline_run()  # colour jitter, grayscale, whole-pixel crops, the rotation pass
    images = torch.randint(0, 256, (n_images, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    together = Trainer(config, images, device="cpu", progress=False).fit()
    monkeypatch.setattr(train, "VIEW_CHUNK_VALUES", 1)  # one batch per call
    one_by_one = Trainer(config, images, device="cpu", progress=False).fit()
    assert torch.equal(together.embeddings, one_by_one.embeddings)
    assert [e["mse"] for e in together.history] == [e["mse"] for e in one_by_one.history]


@pytest.mark.parametrize("world", [2, 3])
@pytest.mark.parametrize("copies", [1, 4])
def test_each_process_gets_the_views_of_its_own_shard_of_every_batch(monkeypatch, world, copies):
    """Under torchrun each process augments its shards of several batches at once: the views and images of each
    shard as if made alone, for every rank (checked here without processes: world and rank set by hand)."""
    import mmdc_lib.train as train
    from mmdc_lib.augment import apply_view, slice_params

    config, _ = authors_pipeline_run()
    images = torch.randint(0, 256, (71, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    trainer = Trainer(config, images, device="cpu", progress=False)
    order, bounds = trainer._epoch_order()
    params = trainer._draw(copies * len(images), config.augment)
    monkeypatch.setattr(train, "VIEW_CHUNK_VALUES", 3 * copies * images[0].numel() * 6)  # 2-3 shards a call
    for rank in range(world):
        trainer.world, trainer.rank = world, rank
        shards = list(trainer._batch_views(order, bounds, config.augment, params, copies=copies))
        assert [(low, high, scale) for low, high, scale, _, _ in shards] == [trainer._shard(*b) for b in bounds]
        for low, high, _, shard_images, views in shards:
            alone = images[order[low:high]]
            expected = apply_view(alone.repeat(copies, 1, 1, 1), config.input_size, config.augment,
                                  slice_params(params, copies * low, copies * high))
            assert torch.equal(shard_images, alone) and torch.equal(views, expected)


@pytest.mark.parametrize("counts", ["random", "balanced"])
def test_the_trainer_draws_its_targets_components_as_target_counts_says(counts):
    digits = load_digits_images()
    images, _ = images_to_uint8_nchw(digits.images[:103])
    config = preset("digits")  # one-hot means: drawing them takes nothing from the trainer's generator
    config.target_counts = counts
    trainer = Trainer(config, images, device="cpu", progress=False)
    components = nearest_mean(trainer.targets, trainer.means)
    generator = torch.Generator().manual_seed(config.seed)
    if counts == "balanced":
        expected = (torch.arange(103) % 10)[torch.randperm(103, generator=generator)]
        assert torch.bincount(components).tolist() == [11, 11, 11, 10, 10, 10, 10, 10, 10, 10]
    else:  # the authors' draw, exactly as before the setting existed: old seeds' runs are unchanged
        expected = torch.randint(10, (103,), generator=generator)
    assert torch.equal(components, expected)


@pytest.mark.parametrize("images,labels,error,message", [
    (np.zeros((20, 1, 8, 8), np.uint8), None, TypeError,
     r"images should be a torch.Tensor of uint8 \(N, C, H, W\), got ndarray; mmdc_lib.estimator.images_to_uint8_nchw "
     r"converts NumPy arrays"),
    (torch.zeros(20, 1, 8, 8), None, TypeError, r"images should be uint8 \(0..255\), got torch.float32; .*images_to_uint8_nchw converts other ranges"),
    (torch.zeros(20, 8, 8, dtype=torch.uint8), None, ValueError, r"images should be 4-dimensional \(N, C, H, W\), got shape \(20, 8, 8\)"),
    (torch.zeros(20, 1, 8, 8, dtype=torch.uint8), np.zeros(19), ValueError, "20 images but 19 labels; they should match one to one"),
])
def test_trainer_names_what_is_wrong_with_its_images_or_labels(images, labels, error, message):
    with pytest.raises(error, match=message):
        Trainer(preset("digits"), images, labels=labels, device="cpu", progress=False)
