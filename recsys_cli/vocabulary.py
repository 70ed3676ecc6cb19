"""The names and defaults the whole tool shares, each declared once.

Importable without numpy: the CLI builds its choices and defaults from these at import time
(``recsys --help`` stays fast), the recipe schema takes its defaults from them, and the
library modules that own each vocabulary import it from here (the model registry checks
its classes against ``MODEL_NAMES``).
"""

from __future__ import annotations

# Candidate generators (recsys_cli.models.registry holds their classes, in this order).
MODEL_NAMES = (
    "als",
    "bpr",
    "item-knn",
    "ease",
    "popular",
    "content",
    "random",
    "hybrid",
    "svd",
    "svdpp",
    "segment-popular",
)

# What the cells of a training matrix hold: 1 per interaction, or the rating as confidence.
MATRIX_VALUES = ("ones", "rating")

# The split parts a run can be evaluated on, or make candidates for.
EVALUATED_PARTS = ("test", "val")

# How top-K lists are retrieved: full ranking, or through the run's Annoy index.
RETRIEVALS = ("exact", "annoy")

# Users without train history: the most popular train items, or no predictions at all.
COLD_START_RULES = ("popular", "none")

# What `recsys evaluate RUN --by` breaks every metric down by (docs/metrics.md, "Who is served badly").
BREAKDOWNS = ("user-activity", "item-popularity", "genre")

# The cut-offs every evaluation reports unless told otherwise (those up to the candidates, for
# the two-stage table).
DEFAULT_KS = (10, 20, 100)

# The rows of the two-stage table: popularity, the generator alone, generator + ranker.
STAGE_ROWS = ("popular", "candidates", "ranker")

# Metrics whose differences between two runs get a paired bootstrap interval, and how many resamples.
PAIRED_METRICS = ("ndcg", "recall")
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0

# How the ranker's labels grade an interaction of the label window.
LABEL_SCHEMES = ("graded", "binary")
