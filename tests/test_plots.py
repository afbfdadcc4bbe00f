"""The figures the chapters draw."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mmdc_lib.plots import _OVERVIEW_ARROWS, _OVERVIEW_BOXES, plot_cluster_grid, plot_history, plot_method_overview  # noqa: E402


def test_the_method_overview_draws_every_step_and_joins_only_drawn_boxes():
    figure = plot_method_overview()
    axes = figure.axes[0]
    texts = [text.get_text() for text in axes.texts]
    assert all(label in texts for _, label in _OVERVIEW_BOXES.values())
    assert all(start in _OVERVIEW_BOXES and end in _OVERVIEW_BOXES for start, end in _OVERVIEW_ARROWS)
    assert len([child for child in axes.get_children() if isinstance(child, matplotlib.text.Annotation)]) == len(_OVERVIEW_ARROWS)
    figure.canvas.draw()  # arrows clipped to their boxes: drawing must not fail
    every_box_is_joined = {name for arrow in _OVERVIEW_ARROWS for name in arrow} == set(_OVERVIEW_BOXES)
    assert every_box_is_joined


def test_the_cluster_grid_draws_the_images_given_to_fit_grayscale_as_gray():
    digits = np.arange(4 * 8 * 8, dtype=np.float64).reshape(4, 8, 8) % 17  # (N, H, W) floats 0..16, as load_digits
    figure = plot_cluster_grid(digits, np.array([0, 0, 1, 1]), n_per_cluster=2)
    drawn = [ax.images[0] for ax in figure.axes if ax.images]
    assert len(drawn) == 4 and all(image.get_cmap().name == "gray" and image.get_array().shape == (8, 8) for image in drawn)
    colour = np.zeros((2, 8, 8, 3))
    colour[1] = 200.0  # floats 0..200: scaled from the array's range, so the second image is white, not clipped
    figure = plot_cluster_grid(colour, np.array([0, 1]), n_per_cluster=1)
    drawn = [ax.images[0].get_array() for ax in figure.axes if ax.images]
    assert [image.shape for image in drawn] == [(8, 8, 3)] * 2 and drawn[0].max() == 0 and drawn[1].min() == 1


def test_the_cluster_grid_names_labels_of_another_length():
    with pytest.raises(ValueError, match=r"labels should have one entry per image, shape \(4,\), got shape \(3,\)"):
        plot_cluster_grid(np.zeros((4, 8, 8), dtype=np.uint8), np.array([0, 1, 1]))


def test_an_empty_history_or_one_without_the_keys_is_named():
    with pytest.raises(ValueError, match="got an empty history"):
        plot_history([])
    with pytest.raises(ValueError, match=r"holding one of keys=\('acc',\), got epochs with keys \['epoch', 'mse'\]"):
        plot_history([{"epoch": 1, "mse": 0.5}], keys=("acc",))


def test_the_cluster_grid_names_images_it_cannot_draw():
    with pytest.raises(ValueError, match="images contain NaN or infinity"):
        plot_cluster_grid(np.full((2, 8, 8), np.nan), np.array([0, 1]))
    with pytest.raises(TypeError, match="images should be a numeric array"):
        plot_cluster_grid(np.array([["a"] * 4] * 4, dtype=object).reshape(1, 4, 4), np.array([0]))
