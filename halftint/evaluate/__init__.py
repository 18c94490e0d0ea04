"""Honest quality measurement: the measures and the evaluation behind `halftint eval`.

Library code only: arrays and tensors in, numbers out.
- `measures`: the pure metrics (PSNR, SSIM, CIEDE2000, colorfulness, chroma histograms) and the
  Gaussian descreening baseline;
- `methods`: the halftoning settings an evaluation runs and their `--methods` syntax;
- `loop`: `evaluate`, the evaluation itself, and its contact sheets;
- `results`: the scores, the targets they are judged against and their JSON form.

Nothing is imported here, so that `halftint eval` can parse its options with `methods` alone and
report a usage error before torch is loaded.
"""
