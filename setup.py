import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
#: the version is written once, in lrlc_np/__init__.py
VERSION = re.search(r'^__version__ = "([^"]+)"', (HERE / "lrlc_np" / "__init__.py").read_text(), re.M).group(1)

setup(
    name="lrlc-np",
    version=VERSION,
    description=(
        "Convolution, locally connected and low-rank locally connected layers in NumPy, "
        "with hand-derived backward passes (Elsayed et al., ICML 2020)"
    ),
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["lrlc_np", "lrlc_np.*"]),
    package_data={"lrlc_np": ["sample_data/*.gz",        # the bundled MNIST sample (lrlc_np.data)
                              "course/gradescope/*"]},  # the Gradescope scripts (lrlc course autograder)
    install_requires=["numpy>=1.23", "scipy>=1.9", "matplotlib>=3.6", "tqdm>=4.60", "threadpoolctl>=3.1"],
    extras_require={
        "test": ["pytest>=7", "hypothesis>=6.70"],
        "notebooks": ["jupytext>=1.14", "nbclient>=0.7", "ipykernel>=6"],
        "gpu": ["cupy-cuda12x[ctk]>=14"],
        # lrlc compare --scheduler: runs as tasks of a Dask distributed cluster (lrlc_np/cluster.py)
        "cluster": ["dask[distributed]>=2024.1"],
        # lrlc docs: Sphinx, MyST-NB, Furo, MathJax files for offline maths, the notebook tools
        # that execute the tutorials, and Selenium for the site's browser test (tests/test_site.py)
        "docs": ["sphinx>=8.1", "myst-nb>=1.1", "furo>=2024.8.6", "sphinx-mathjax-offline>=0.0.2",
                 "jupytext>=1.14", "nbclient>=0.7", "ipykernel>=6", "selenium>=4.11"],
    },
    entry_points={"console_scripts": ["lrlc = lrlc_np.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: MIT License",
        "Intended Audience :: Education",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
