"""One training step: the fast path (targets from an overlapped Hungarian step, one forward for both tasks)
computes exactly the step of the plain path, on the CPU."""
import copy

import pytest
import torch

from mmdc_lib.assignment import PendingAssignment, optimal_permutation
from mmdc_lib.models import MMDCNet, parameter_groups
from mmdc_lib.step import mmdc_loss, train_step


def fixed_batch():
    generator = torch.Generator().manual_seed(0)
    views = torch.rand(8, 1, 16, 16, generator=generator)
    rotated = torch.rand(8, 1, 16, 16, generator=generator)
    labels = torch.randint(4, (8,), generator=generator)
    targets = torch.eye(4)[torch.randint(4, (8,), generator=generator)]
    return views, rotated, labels, targets


def model_and_optimizer(seed=0):
    torch.manual_seed(seed)
    model = MMDCNet("small", 1, 4)
    return model, torch.optim.SGD(parameter_groups(model, 5e-4), lr=0.05, momentum=0.9)


@pytest.mark.parametrize("mse_reduction", ["sum", "mean"])
def test_fast_path_computes_the_same_loss_and_gradients_as_the_plain_path(mse_reduction):
    views, rotated, labels, targets = fixed_batch()
    fast, fast_optimizer = model_and_optimizer()
    plain = copy.deepcopy(fast)
    # Plain: embed the clean view, solve the assignment, then a step through the submodules, by hand.
    with torch.no_grad():
        plain.eval()
        permutation = optimal_permutation(plain(views), targets)
    plain.train()
    features = plain.features(torch.cat([views, rotated]))
    total, mse, rotation = mmdc_loss(plain.embed_features(features[:8]), targets[permutation],
                                     plain.rotation_head(features[8:]), labels, 0.5, mse_reduction)
    total.backward()
    # Fast: the assignment started before the forward pass and finished inside train_step.
    with torch.no_grad():
        fast.eval()
        pending = PendingAssignment(fast(views), targets)
    fast_optimizer.step = lambda: None  # compare the gradients of this step, before the update
    fast_mse, fast_rotation = train_step(fast, fast_optimizer, views, lambda: targets[pending.permutation()], rotated, labels,
                                         rotation_weight=0.5, mse_reduction=mse_reduction)
    assert torch.equal(fast_mse, mse.detach()) and torch.equal(fast_rotation, rotation.detach())
    for (name, a), b in zip(fast.named_parameters(), plain.parameters()):
        assert torch.equal(a.grad, b.grad), name


def test_mean_reduction_is_the_authors_mse_loss_and_sum_is_d_times_it():
    embeddings, targets = torch.rand(5, 10), torch.rand(5, 10)
    _, mean, _ = mmdc_loss(embeddings, targets, mse_reduction="mean")
    _, summed, _ = mmdc_loss(embeddings, targets, mse_reduction="sum")
    assert torch.allclose(mean, torch.nn.MSELoss()(embeddings, targets)) and torch.allclose(summed, 10 * mean)


def test_rotation_task_alone_trains_only_through_the_rotation_head():
    _, rotated, labels, _ = fixed_batch()
    model, optimizer = model_and_optimizer()
    optimizer.step = lambda: None
    mse, rotation = train_step(model, optimizer, None, None, rotated, labels, rotation_weight=1.0)
    assert mse.item() == 0 and rotation.item() > 0
    assert model.embedding_head.weight.grad is None and model.rotation_head.weight.grad is not None


def test_one_clustering_pass_of_the_trainer_equals_the_step_built_by_hand():
    """The fast path end to end (epoch-level random draws on the device, the gather rotation, the overlapped
    assignment, one forward for both tasks) against the plain computation of the same batch."""
    from mmdc_lib.assignment import optimal_permutation
    from mmdc_lib.augment import apply_view, clean_view, draw_view_params
    from mmdc_lib.config import preset
    from mmdc_lib.data import load_digits_images
    from mmdc_lib.estimator import images_to_uint8_nchw
    from mmdc_lib.train import Trainer

    config = preset("digits")
    config.epochs, config.lr_milestones, config.batch_size = 1, (1,), 16
    images, _ = images_to_uint8_nchw(load_digits_images().images[:16])  # one batch
    trainer = Trainer(config, images, device="cpu", progress=False)
    reference = copy.deepcopy(trainer.model)
    optimizer = torch.optim.SGD(parameter_groups(reference, config.weight_decay), lr=config.lr, momentum=config.momentum,
                                nesterov=config.nesterov)
    generator = torch.Generator()
    generator.set_state(trainer.generator.get_state())
    targets = trainer.targets.clone()
    trainer._clustering_pass(refining=False)
    # By hand: the same draws, in the same order, from a copy of the generator.
    order = torch.randperm(16, generator=generator)
    params = draw_view_params(16, config.augment, generator, 8, 8)
    quarters = torch.randint(4, (16,), generator=generator)
    batch = images[order]
    reference.eval()
    with torch.no_grad():
        clean = reference(clean_view(batch, config.input_size, config.augment.eval_crop))
    batch_targets = targets[order][optimal_permutation(clean, targets[order])]
    views = apply_view(batch, config.input_size, config.augment, params)
    rotated = torch.stack([torch.rot90(view, int(q), dims=(1, 2)) for view, q in zip(views, quarters)])
    rotated = rotated.contiguous(memory_format=torch.channels_last)
    reference.train()
    features = reference.features(torch.cat([views, rotated]))
    total, _, _ = mmdc_loss(reference.embed_features(features[:16]), batch_targets, reference.rotation_head(features[16:]),
                            quarters, config.rotation_weight)
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    assert torch.equal(trainer.targets[order], batch_targets)
    for (name, ours), theirs in zip(trainer.model.named_parameters(), reference.parameters()):
        assert torch.equal(ours, theirs), name
