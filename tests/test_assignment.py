import itertools

import pytest
import torch

from mmdc_lib.assignment import optimal_permutation, reassign_batch


def brute_force_cost(embeddings, targets):
    return min(
        sum(torch.dist(embeddings[i], targets[p]).item() for i, p in enumerate(perm))
        for perm in itertools.permutations(range(len(targets)))
    )


@pytest.mark.parametrize("seed", range(5))
def test_hungarian_permutation_matches_brute_force_optimum(seed):
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(6, 3, generator=generator)
    targets = torch.randn(6, 3, generator=generator)
    perm = optimal_permutation(embeddings, targets)
    cost = (embeddings - targets[perm]).norm(dim=1).sum().item()
    assert sorted(perm.tolist()) == list(range(6))
    assert cost == pytest.approx(brute_force_cost(embeddings, targets), rel=1e-5)


def test_reassign_batch_permutes_only_the_batch_targets_in_place():
    targets = torch.eye(4)[[0, 1, 2, 3, 0, 1]].clone()
    before = targets.clone()
    batch = torch.tensor([1, 3, 4])  # holds targets e1, e3, e0
    embeddings = torch.eye(4)[[0, 1, 3]]  # want e0, e1, e3 respectively
    new = reassign_batch(embeddings, targets, batch)
    assert torch.equal(new, torch.eye(4)[[0, 1, 3]])
    assert torch.equal(targets[batch], new)
    untouched = torch.tensor([0, 2, 5])
    assert torch.equal(targets[untouched], before[untouched])
    assert sorted(map(tuple, targets.tolist())) == sorted(map(tuple, before.tolist()))  # same multiset


def test_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match="differ in shape"):
        optimal_permutation(torch.zeros(3, 2), torch.zeros(4, 2))
