"""Fréchet distance between Gaussian fits of two feature sets (FID / FVD), in float64.

||mu_a - mu_b||^2 + tr(S_a) + tr(S_b) - 2 tr((S_a^1/2 S_b S_a^1/2)^1/2), with the matrix
square roots taken by symmetric eigendecomposition: the product inside is symmetric PSD, so
no complex sqrtm and no `disp` warnings, and it agrees with scipy's sqrtm (tested).
"""

from __future__ import annotations

import numpy as np


def gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of (N, D) features, in float64."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"need (N >= 2, D) features, got shape {x.shape}")
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))  # (1, 1) for one dimension


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(
    mu_a: np.ndarray, cov_a: np.ndarray, mu_b: np.ndarray, cov_b: np.ndarray
) -> float:
    root_a = _psd_sqrt(np.asarray(cov_a, np.float64))
    inner = root_a @ np.asarray(cov_b, np.float64) @ root_a
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum()
    diff = np.asarray(mu_a, np.float64) - np.asarray(mu_b, np.float64)
    return float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root)


def feature_distance(real: np.ndarray, generated: np.ndarray) -> float:
    """The Fréchet distance of two (N, D) feature sets."""
    return frechet_distance(*gaussian(real), *gaussian(generated))


def full_rank_dims(dims: int, *counts: int) -> int:
    """Feature dimensions a Gaussian fit of the smallest set can estimate at full rank: at most
    half its size (a covariance of n samples has rank n - 1 at best, and is noisy near it)."""
    return max(1, min(dims, min(counts) // 2))


def principal_basis(features: np.ndarray, dims: int) -> np.ndarray:
    """(D, dims) orthonormal directions of largest variance of `features` (PCA)."""
    x = np.asarray(features, np.float64)
    _, _, vt = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    return vt[:dims].T
