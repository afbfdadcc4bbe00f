"""Helpers of the benchmark scripts that decide something (benchmarks/ is not a package: put it on the path)."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.append(str(Path(__file__).resolve().parents[1] / "benchmarks"))  # after everything: shadows nothing
from restart_rules import consensus_restart  # noqa: E402


def test_the_consensus_restart_agrees_most_with_the_others_its_own_diagonal_left_out():
    # restarts 0 and 2 agree with each other (0.8); restart 1 is poor in its own way; a large diagonal is ignored
    agreement = [[5.0, 0.1, 0.8], [0.1, 1.0, 0.2], [0.8, 0.2, 1.0]]
    assert consensus_restart(agreement) == 2  # mean 0.5 against 0.45 (restart 0) and 0.15 (restart 1)
    assert consensus_restart([[1.0]]) == 0
    assert consensus_restart(np.ones((3, 3))) == 0  # the first of equals


@pytest.mark.parametrize("agreement", [[], [[1.0, 0.5]], np.ones((2, 2, 2))])
def test_consensus_restart_names_a_matrix_that_is_not_square(agreement):
    with pytest.raises(ValueError, match=r"agreement should be a square \(R, R\) matrix with R >= 1, got shape"):
        consensus_restart(agreement)
