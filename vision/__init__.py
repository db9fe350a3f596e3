"""Reproduction of the paper's MNIST and CIFAR-10 benchmarks on ``ddvi_genomics.core``.

Runs from a checkout (``python -m vision ...``); it is not installed with the package.
"""
