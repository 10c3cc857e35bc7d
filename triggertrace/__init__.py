"""triggertrace: plant backdoors in language models and measure what their reasoning says.

Each module is one stage's logic; the Snakemake scripts under ``scripts/`` only move
files in and out of these functions.
"""

__version__ = "0.1.0"
