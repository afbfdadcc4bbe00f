"""The published presets against the authors' code: every setting pinned, the table shown in the README."""
from pathlib import Path

import pytest

from mmdc_lib.fidelity import PUBLISHED_PRESETS, SETTINGS, fidelity_markdown, fidelity_rows

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", PUBLISHED_PRESETS)
def test_every_setting_of_the_published_preset_is_the_authors(name):
    differing = [(row["setting"], row[name]["ours"], row[name]["authors"]) for row in fidelity_rows() if not row[name]["same"]]
    assert differing == []


def test_every_published_preset_has_a_value_for_every_setting():
    assert all(set(setting.authors) == set(PUBLISHED_PRESETS) for setting in SETTINGS)


def test_the_readme_shows_the_current_fidelity_table():
    assert fidelity_markdown() in (ROOT / "README.md").read_text()
