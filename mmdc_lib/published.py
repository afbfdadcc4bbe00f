"""Published results, cited, shown beside our own runs. Nothing here is computed by this library.

ACC and NMI as fractions. The MMDC paper's NMI is the
arithmetic-mean normalisation (``mmdc_lib.metrics.NMI_AVERAGING``).
"""
from __future__ import annotations

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
