"""Benchmarks of espnet_ext against stock ESPnet: what each addition costs in time and memory.

Not part of the espnet_ext package (nothing in it imports this one), and not tests: they time, and want a
quiet machine.  Installed beside espnet_ext by setup.py, so ``python -m benchmarks.<module> ...`` runs from
any directory (recipes call them from egs/*/asr1); ``bash tools/benchmark.sh`` runs the whole comparison
(``benchmarks.benchmark``), which writes benchmarks/results/benchmarks.md.  See docs/package_layout.md.
"""
