"""Where a run's artifacts live: the kinds under ``runs/<run>/<kind>/<generation>/`` and their files.

Declared once: every module that writes or reads an artifact (and the recipe plan, which
names the artifacts its stages produce) imports these names instead of spelling them.
"""

from __future__ import annotations

# Beside every trained run, and every recipe run (pipelines/<name>/<generation>/).
MANIFEST_FILE = "manifest.json"
METRICS_FILE = "metrics.json"
PER_USER_FILE = "per_user.parquet"
# A recipe run's manifest (and its catalog row) records metrics.json's sha256 under this key.
METRICS_SHA256 = "metrics_sha256"


def evaluation_kind(part: str) -> str:
    """``recsys evaluate RUN --on PART``: metrics.json and per_user.parquet."""
    return f"evaluation-{part}"


EVALUATION_KIND_PREFIX = "evaluation-"
TEST_EVALUATION_KIND = evaluation_kind("test")


def candidates_kind(part: str) -> str:
    """``recsys candidates RUN --on PART``: candidates.parquet."""
    return f"candidates-{part}"


CANDIDATES_FILE = "candidates.parquet"

INDEX_KIND = "index"  # index.ann
BENCH_KIND = "index-bench"  # recall against exact retrieval (meta only)
INDEX_FILE = "index.ann"

# `recsys train ranker RUN`: the model text, the label window's pool, features and labels,
# the feature importance and the refitted source models.
RANKER_KIND = "ranker"
RANKER_MODEL_FILE = "ranker.txt"  # its size and sha256 are in the artifact's record, under "ranker_file"
LABELS_FILE = "labels-val.parquet"
IMPORTANCE_FILE = "importance.parquet"
REFIT_FOLDER = "refit"

# The two-stage evaluation of a run's ranker: metrics.json, per_user.parquet and the test pool.
STAGES_KIND = "evaluation-stages"
STAGE_POOL_FILE = "pool-test.parquet"


def pool_file(part: str) -> str:
    """The candidate pool of a window, as the ranker (val) writes it."""
    return f"candidates-{part}.parquet"


def features_file(part: str) -> str:
    """The features of a window's pool (val beside the ranker, test beside its evaluation)."""
    return f"features-{part}.parquet"
