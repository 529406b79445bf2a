"""keras-adamw: decoupled weight decay (AdamW, NadamW, SGDW) and warm restarts for Keras 3."""

import pathlib
import re

from setuptools import find_packages, setup

here = pathlib.Path(__file__).parent
version = re.search(r'__version__ = "([^"]+)"',
                    (here / "keras_adamw" / "__init__.py").read_text()).group(1)


def long_description() -> str:
    """The README for a package index: images dropped, and the links into this
    repository's folders as plain text (an index page cannot serve them)."""
    text = (here / "README.md").read_text(encoding="utf-8")
    text = re.sub(r"^!\[[^\]]*\]\([^)]*\)\n", "", text, flags=re.M)
    return re.sub(r"\[([^\]]+)\]\((?!https?://|#)[^)]+\)", r"\1", text)


setup(
    name="keras-adamw",
    version=version,
    description=("AdamW, NadamW, SGDW, warm restarts and lr multipliers for Keras 3, "
                 "exact to Loshchilov & Hutter"),
    long_description=long_description(),
    long_description_content_type="text/markdown",
    license="MIT",
    author="keras-adamw developers",
    # No URL: this code is not the keras-adamw 1.x repository nor its PyPI releases;
    # it is installed from a clone of its own repository or a wheel built from it.
    packages=find_packages(include=["keras_adamw", "keras_adamw.*"]),
    package_data={"keras_adamw": ["py.typed"]},
    python_requires=">=3.9",
    install_requires=["keras>=3.8", "numpy"],  # the floor .ci/run tests (keras 3.8.0)
    extras_require={
        # TensorFlow is the default Keras backend; the CPU build installs faster.
        "tensorflow": ["tensorflow>=2.16"],
        "tensorflow-cpu": ["tensorflow-cpu>=2.16"],
        "jax": ["jax[cpu]"],
        # Keras 2 (tf_keras) users: TF_USE_LEGACY_KERAS=1; the matching release is chosen
        # by pip from the installed TensorFlow.
        "tf-keras": ["tf_keras"],
        # The example and the replication plot with matplotlib and train on data made
        # locally: scikit-learn's digits and mnist1d's generator; scipy for t intervals.
        "example": ["matplotlib", "scikit-learn", "mnist1d", "scipy"],
        # tests/test_packaging.py builds a wheel and an sdist without build isolation
        "test": ["pytest>=7", "wheel", "setuptools>=61"],
        # tests/test_keras_hub.py (tiny BERT and Gemma from config, no download); skipped
        # without it. Install it after the rest, held to the installed Keras: .ci/run.
        "hub": ["keras-hub>=0.32"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
