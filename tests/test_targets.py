import pytest
import torch

from mmdc_lib.targets import mixture_means, nearest_mean, sample_targets


@pytest.mark.parametrize("kind,k,d", [("onehot", 10, 10), ("random", 10, 3), ("random", 5, 32), ("orthogonal", 4, 16), ("auto", 6, 6), ("auto", 6, 2)])
def test_mixture_means_are_unit_vectors_of_shape_k_by_d(kind, k, d):
    means = mixture_means(k, d, kind, torch.Generator().manual_seed(0))
    assert means.shape == (k, d)
    assert torch.allclose(means.norm(dim=1), torch.ones(k), atol=1e-6)


def test_onehot_means_are_the_identity_and_auto_picks_them_when_d_equals_k():
    assert torch.equal(mixture_means(4, 4, "onehot"), torch.eye(4))
    assert torch.equal(mixture_means(4, 4, "auto"), torch.eye(4))


def test_orthogonal_means_are_orthonormal():
    means = mixture_means(5, 12, "orthogonal", torch.Generator().manual_seed(1))
    assert torch.allclose(means @ means.T, torch.eye(5), atol=1e-5)


def test_onehot_means_with_d_not_k_raise_a_clear_error():
    with pytest.raises(ValueError, match="one-hot means need dim == n_clusters, got 3 != 10"):
        mixture_means(10, 3, "onehot")


def test_sigma_zero_targets_sit_exactly_on_the_means():
    means = mixture_means(3, 3)
    targets, components = sample_targets(100, means, 0.0, torch.Generator().manual_seed(0))
    assert torch.equal(targets, means[components])
    assert set(components.tolist()) == {0, 1, 2}


def test_sigma_spreads_targets_around_their_mean_and_keeps_unit_norm():
    means = mixture_means(4, 8, "random", torch.Generator().manual_seed(0))
    spreads = []
    for sigma in (0.05, 0.3):
        targets, components = sample_targets(2000, means, sigma, torch.Generator().manual_seed(0))
        assert torch.allclose(targets.norm(dim=1), torch.ones(2000), atol=1e-5)
        spreads.append((targets - means[components]).norm(dim=1).mean().item())
    assert 0 < spreads[0] < spreads[1]


def test_negative_sigma_is_rejected():
    with pytest.raises(ValueError, match="sigma=-0.1 should be >= 0"):
        sample_targets(10, mixture_means(2, 2), -0.1)


def test_nearest_mean_reads_out_the_closest_component():
    means = torch.eye(3)
    embeddings = torch.tensor([[0.9, 0.1, 0.0], [0.0, 0.2, 0.8], [0.1, 0.7, 0.1]])
    assert nearest_mean(embeddings, means).tolist() == [0, 2, 1]


def test_random_counts_draw_each_component_as_the_authors_and_as_before():
    means = mixture_means(3, 3)
    _, components = sample_targets(50, means, 0.0, torch.Generator().manual_seed(4))
    assert torch.equal(components, torch.randint(3, (50,), generator=torch.Generator().manual_seed(4)))


@pytest.mark.parametrize("n,k", [(100, 10), (1797, 10), (23, 4)])
def test_balanced_counts_give_every_component_its_share_in_a_seeded_random_order(n, k):
    means = mixture_means(k, k)
    targets, components = sample_targets(n, means, 0.0, torch.Generator().manual_seed(0), counts="balanced")
    assert torch.bincount(components, minlength=k).tolist() == [n // k + (c < n % k) for c in range(k)]
    assert torch.equal(targets, means[components])
    again = sample_targets(n, means, 0.0, torch.Generator().manual_seed(0), counts="balanced")[1]
    other = sample_targets(n, means, 0.0, torch.Generator().manual_seed(1), counts="balanced")[1]
    assert torch.equal(components, again) and not torch.equal(components, other)
    assert not torch.equal(components, torch.arange(n) % k)  # shuffled


def test_unknown_target_counts_are_named():
    with pytest.raises(ValueError, match=r"counts='equal' should be one of \('random', 'balanced'\)"):
        sample_targets(10, mixture_means(2, 2), 0.0, counts="equal")
