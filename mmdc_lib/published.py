"""Published results, cited, shown beside our own runs. Nothing here is computed by this library.

ACC and NMI as fractions. The MMDC paper's NMI is the
arithmetic-mean normalisation (``mmdc_lib.metrics.NMI_AVERAGING``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

MMDC_PAPER = "Shiran & Weinshall, Multi-Modal Deep Clustering, ICPR 2020 (arXiv:1912.02678), Table 1"
N2D_PAPER = "McConville et al., N2D: (Not Too) Deep Clustering, ICPR 2020 (arXiv:1908.05968), Fashion-MNIST table"

# MMDC, Table 1: (ACC, NMI) per data set, from the paper; the presets in config.py are its settings.
MMDC_TABLE_1 = {
    "cifar10": (0.820, 0.703),
    "cifar100-20": (0.446, 0.418),
    "stl10": (0.694, 0.593),
}

# The authors' released checkpoints (their README, guysrn/mmdc): ACC on train + test.
RELEASED_CHECKPOINTS_SOURCE = "ACC of the checkpoints the authors released with their code (guysrn/mmdc README)"
RELEASED_CHECKPOINTS_ACC = {
    "mnist": 0.991,
    "cifar10": 0.843,
    "cifar100-20": 0.437,
    "stl10": 0.672,
}

# Fashion-MNIST, all 70,000 images, clustering from scratch: ACC as reported in the N2D paper.
FASHION_MNIST_ACC = {
    "k-means": 0.47,
    "DEC": 0.52,
    "N2D": 0.67,
}


@dataclass(frozen=True)
class PublishedResult:
    """One method's published (ACC, NMI) on the paper's benchmarks; NMI None where the source gives none."""
    method: str
    paper: str
    source: str  # where the figures are printed: the method's own paper (its table), or another paper's comparison table
    protocol: str  # the images trained on and scored on
    nmi_normalisation: str
    scores: dict[str, tuple[float, Optional[float]]] = field(default_factory=dict)


SCAN_PAPER = "Van Gansbeke et al., SCAN: Learning to Classify Images without Labels, ECCV 2020 (arXiv:2005.12320)"
DAC_PAPER = "Chang et al., Deep Adaptive Image Clustering, ICCV 2017"
IIC_PAPER = "Ji et al., Invariant Information Clustering, ICCV 2019 (arXiv:1807.06653)"

# MMDC among its ancestors and peers, oldest first. Noise As Targets (Bojanowski & Joulin, ICML 2017), MMDC's
# ancestor (fixed targets, assigned per batch), learns features and reports no clustering scores on these sets.
# SCAN's README: most prior work trains on train + test, SCAN trains on train and scores on test.
PEERS = (
    PublishedResult("DEC", "Xie et al., Unsupervised Deep Embedding for Clustering Analysis, ICML 2016",
                    f"{DAC_PAPER}, comparison table", "train + test", "not stated",
                    {"cifar10": (0.301, 0.257), "cifar100-20": (0.185, 0.136), "stl10": (0.359, 0.276)}),
    PublishedResult("DAC", DAC_PAPER, DAC_PAPER, "train + test", "not stated",
                    {"cifar10": (0.522, 0.396), "cifar100-20": (0.238, 0.185), "stl10": (0.470, 0.366)}),
    PublishedResult("DeepCluster", "Caron et al., Deep Clustering for Unsupervised Learning of Visual Features, ECCV 2018",
                    f"{IIC_PAPER}, comparison table", "train + test", "(ACC only)",
                    {"cifar10": (0.374, None), "cifar100-20": (0.189, None), "stl10": (0.334, None)}),
    PublishedResult("IIC", IIC_PAPER, IIC_PAPER, "train + test (STL-10: also its 100,000 unlabelled images)", "(ACC only)",
                    {"cifar10": (0.617, None), "cifar100-20": (0.257, None), "stl10": (0.596, None)}),
    PublishedResult("MMDC", MMDC_PAPER, MMDC_PAPER, "train + test", "arithmetic",
                    dict(MMDC_TABLE_1)),
    PublishedResult("SCAN", SCAN_PAPER, f"{SCAN_PAPER}, Table 3", "train, scored on test", "scikit-learn's default (arithmetic since 0.22)",
                    {"cifar10": (0.883, 0.797), "cifar100-20": (0.507, 0.486), "stl10": (0.809, 0.698)}),
)
