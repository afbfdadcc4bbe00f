"""mmdc_lib: Multi-Modal Deep Clustering (Shiran & Weinshall, ICPR 2020), small and tested."""
from .config import AugmentConfig, MMDCConfig, PRESETS, preset
from .data import ImageData, load_dataset
from .estimator import MMDC
from .metrics import ClusteringScores, cluster_accuracy, evaluate_clustering

__version__ = "0.1.0"
__all__ = [
    "MMDC", "MMDCConfig", "AugmentConfig", "PRESETS", "preset", "ImageData", "load_dataset",
    "ClusteringScores", "cluster_accuracy", "evaluate_clustering",
]
