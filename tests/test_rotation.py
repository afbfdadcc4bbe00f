import pytest
import torch

from mmdc_lib.rotation import rotate_batch


def test_rotate_batch_returns_four_rotations_with_labels():
    images = torch.arange(2 * 1 * 3 * 3, dtype=torch.float32).view(2, 1, 3, 3)
    rotated, labels = rotate_batch(images)
    assert rotated.shape == (8, 1, 3, 3)
    assert labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert torch.equal(rotated[:2], images)
    # 90 degrees counter-clockwise: the top row becomes the left column, read upwards.
    assert rotated[2, 0, :, 0].tolist() == images[0, 0, 0, :].flip(0).tolist()
    assert torch.equal(rotated[4], images[0].flip(1).flip(2))  # 180 degrees
    assert torch.equal(torch.rot90(rotated[6], 1, dims=(1, 2)), images[0])  # 270 + 90 = 360


def test_rotate_batch_rejects_non_square_images():
    with pytest.raises(ValueError, match="square"):
        rotate_batch(torch.zeros(2, 1, 3, 4))


def test_rotate_randomly_rotates_each_image_by_its_label():
    from mmdc_lib.rotation import rotate_randomly

    images = torch.rand(16, 1, 5, 5)
    rotated, labels = rotate_randomly(images, torch.Generator().manual_seed(0))
    assert rotated.shape == images.shape and len(set(labels.tolist())) > 1
    for image, turned, quarter in zip(images, rotated, labels.tolist()):
        assert torch.equal(turned, torch.rot90(image, quarter, dims=(1, 2)))


def test_rotate_by_equals_rot90_per_image_without_masks():
    from mmdc_lib.rotation import rotate_by

    images = torch.rand(9, 2, 5, 5)
    labels = torch.tensor([0, 1, 2, 3, 3, 2, 1, 0, 1])
    rotated = rotate_by(images, labels)
    for image, label, turned in zip(images, labels, rotated):
        assert torch.equal(turned, torch.rot90(image, int(label), dims=(1, 2)))


def test_rotate_quarters_turns_each_quarter_of_the_batch_by_its_index():
    from mmdc_lib.rotation import rotate_quarters

    views = torch.rand(8, 1, 4, 4)
    rotated, labels = rotate_quarters(views)
    assert labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert torch.equal(rotated[5], torch.rot90(views[5], 2, dims=(1, 2)))
