"""SSIM as the quality benches measure it: Gaussian window 11 / sigma 1.5 on luma (Wang et al.
2004), numpy. Imported by ssim_bytes.py and effort.py (beside them, so on their sys.path)."""
import numpy as np


def luma(img):
    a = np.asarray(img.convert("RGB")).astype(np.float64)
    return 0.299 * a[..., 0] + 0.587 * a[..., 1] + 0.114 * a[..., 2]

def gaussian_filter(x, sigma=1.5, radius=5):
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k /= k.sum()
    pad = np.pad(x, radius, mode="reflect")
    rows = np.apply_along_axis(lambda r: np.convolve(r, k, mode="valid"), 1, pad)
    return np.apply_along_axis(lambda c: np.convolve(c, k, mode="valid"), 0, rows)

def ssim(a, b):
    x, y = luma(a), luma(b)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = gaussian_filter(x), gaussian_filter(y)
    sxx = gaussian_filter(x * x) - mx * mx
    syy = gaussian_filter(y * y) - my * my
    sxy = gaussian_filter(x * y) - mx * my
    m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(m.mean())
