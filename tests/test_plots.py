"""The figures the chapters draw."""
import matplotlib

matplotlib.use("Agg")

from mmdc_lib.plots import _OVERVIEW_ARROWS, _OVERVIEW_BOXES, plot_method_overview  # noqa: E402


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
