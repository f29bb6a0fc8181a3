"""wsss: weakly supervised semantic segmentation in PyTorch."""

__version__ = "0.1.0.dev0"
