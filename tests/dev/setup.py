"""spacy-stsn-dev: the development helpers (``stsn_dev``) of the spacy-stsn repository,
installed editable beside it by ``make install``; never part of the spacy-stsn wheel."""

from setuptools import setup

setup(
    name="spacy-stsn-dev",
    version="0",
    description="development helpers of spacy-stsn: tiny pipelines, experiment runner",
    packages=["stsn_dev"],
    python_requires=">=3.9",
)
