"""xmodal: self-supervised speech representations from talking-face video."""
from setuptools import find_packages, setup

setup(
    name="xmodal",
    version="0.1.0",
    description="Kaldi/ESPnet-style recipes for cross-modal self-supervised speech representations",
    packages=find_packages(include=["xmodal", "xmodal.*"]),
    python_requires=">=3.10",
    install_requires=[
        "torch>=2.1",
        "torchaudio>=2.1",
        "kaldiio>=2.18",
        "sentencepiece>=0.1.99",
        "numpy>=1.24",
        "pyyaml>=6.0",
        "matplotlib>=3.7",
        "typeguard>=4.0",
        # PyAV decodes mp4/m4a in-process with exact frame/sample counts.
        "av>=12.0",
        # OpenCV draws the synthetic faces (anti-aliased primitives) and resizes frames.
        "opencv-python-headless>=4.8",
        "tqdm>=4.60",
        "tensorboard>=2.14",
        # Score calibration (logistic regression) and minCllr (pool-adjacent-violators).
        "scipy>=1.10",
        "scikit-learn>=1.3",
    ],
    extras_require={
        "dev": ["pytest>=7.0", "kaldi-io>=0.9.8"],
        # `xmodal export` and its parity check: the ONNX exporter and a runtime to run it.
        "export": ["onnx>=1.16", "onnxscript>=0.2", "onnxruntime>=1.18"],
    },
    # `xmodal embed|verify|export|score|metrics` (xmodal.cli).
    entry_points={"console_scripts": ["xmodal=xmodal.cli:main"]},
)
