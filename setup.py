from setuptools import find_packages, setup

setup(
    name="mindgpt",
    version="0.1.0",
    description="GPT-1 (Improving Language Understanding by Generative Pre-Training) on MindSpore",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    # configs/ installs as the package mindgpt.configs, so a non-editable install runs the main job too
    packages=find_packages(include=["mindgpt", "mindgpt.*"]) + ["mindgpt.configs"],
    package_dir={"mindgpt.configs": "configs"},
    package_data={"mindgpt.configs": ["*.yaml"]},
    python_requires=">=3.9,<3.12",
    install_requires=[
        "mindspore==2.10.0",
        "numpy<2",
        "tokenizers>=0.19",
        "safetensors>=0.4",
        "pyyaml>=6",
        "tqdm>=4.60",
        "matplotlib>=3.7",  # loss.png, the benchmark charts and the notebooks' figures (Agg: no display needed)
    ],
    extras_require={
        "test": ["pytest>=7", "nbclient>=0.7", "nbformat>=5.1", "ipykernel>=6"],  # the notebooks' test runs them
        # benchmarks only: the ablation's TF-IDF baseline and the HF/PyTorch reference (CPU wheel of torch 2.13);
        # accelerate: transformers' Trainer needs it (benchmarks/course_flow.py)
        "bench": ["scikit-learn>=1.3", "torch==2.13.0", "transformers==5.24.0", "accelerate==1.16.0"],
    },
    entry_points={"console_scripts": ["mindgpt=mindgpt.cli:main"]},
)
