"""The one small interface every candidate generator implements.

A model is fitted on a split's train part (a users x items CSR matrix, the
orientation implicit >= 0.5 expects) and then scores batches of users against
the whole catalogue. Seen items are *not* masked here: callers mask them once,
through the same CSR, whatever the model (see recsys_cli/topk.py).

A model's learned state is a dict of plain numpy arrays (saved as npz with
``allow_pickle=False``) and its parameters a dataclass (saved as JSON), so an
artifact can be loaded from an untrusted file without running any code.
"""

from __future__ import annotations

import dataclasses
import typing
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recsys_cli.data.metadata import USER_ATTRIBUTES, ItemMetadata, UserMetadata  # noqa: F401 (the model API)
from recsys_cli.errors import InvalidParameterError
from recsys_cli.reporting import SILENT, Reporter


@dataclass(frozen=True)
class TrainingData:
    """What a model may learn from: the train part of one split.

    ``user_items`` is n_users x n_items over the *dataset's* indices (float32,
    one per interaction unless the run asked for ratings as values; for a model that
    ``predicts_ratings``, each pair's rating, the latest where a pair was rated more than once).
    ``item_idx`` and ``ts`` list every train interaction; they are read only for a model
    whose ``needs_time()`` is true (at 20M rows they cost seconds and 250 MB otherwise).
    """

    user_items: sp.csr_matrix
    item_idx: np.ndarray | None = None
    ts: np.ndarray | None = None
    item_metadata: ItemMetadata | None = None  # given to a model whose ``needs_item_metadata`` is true
    user_metadata: UserMetadata | None = None  # given to a model whose ``needs_user_metadata`` is true

    @property
    def n_users(self) -> int:
        return self.user_items.shape[0]

    @property
    def n_items(self) -> int:
        return self.user_items.shape[1]


@dataclass(frozen=True)
class ModelParams:
    """Base of every model's parameters; fields carry ``metadata={"help": ...}``."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class CandidateModel(ABC):
    """A candidate generator: fit on train, score users, expose state as arrays."""

    name: ClassVar[str]
    description: ClassVar[str]
    Params: ClassVar[type[ModelParams]]
    # Capabilities: what a run of this model offers beyond scoring.
    explainable: ClassVar[bool] = False  # ``contributions`` says which past items made a score
    indexable: ClassVar[bool] = False  # ``item_embeddings`` exist: an ANN index can serve it
    # what an explanation names: the user's past items (``contributions``) or metadata terms
    # (``term_contributions``)
    explains_with: ClassVar[str] = "items"
    needs_item_metadata: ClassVar[bool] = False  # ``fit`` reads ``TrainingData.item_metadata``
    # ``fit`` reads ``TrainingData.user_metadata``; ``user_attributes()`` names the attributes it must find
    needs_user_metadata: ClassVar[bool] = False
    # ``predict_ratings`` estimates ratings, and ``fit`` learns from the ratings in ``user_items``
    # (the workspace gives it ratings whatever the run's matrix values; docs/models.md)
    predicts_ratings: ClassVar[bool] = False

    def __init__(self, params: ModelParams | None = None, seed: int = 42):
        self.params = params if params is not None else self.Params()
        self.seed = seed
        self.n_users = 0
        self.n_items = 0

    # -- learning ------------------------------------------------------------------
    def fit(self, data: TrainingData, reporter: Reporter = SILENT) -> None:
        check_user_items(data.user_items)
        if data.user_items.nnz == 0:
            raise InvalidParameterError("the train part has no interactions", "check the split")
        self.n_users, self.n_items = data.user_items.shape
        self.check_shape(self.n_users, self.n_items)
        self._fit(data, reporter)

    @abstractmethod
    def _fit(self, data: TrainingData, reporter: Reporter) -> None: ...

    def needs_time(self) -> bool:
        """Whether ``fit`` reads ``TrainingData.item_idx`` and ``ts``."""
        return False

    def user_attributes(self) -> tuple[str, ...]:
        """Which of USER_ATTRIBUTES ``fit`` reads (``needs_user_metadata``): the workspace refuses, before any
        work, a dataset whose users file has none of them."""
        return ()

    def check_shape(self, n_users: int, n_items: int) -> None:  # noqa: B027 (optional hook: most models accept any)
        """Refuse, before any work, a data shape this model cannot handle (e.g. memory)."""

    def shape_warnings(self, n_users: int, n_items: int) -> list[str]:
        """What to warn about, before any work, for a data shape this model can handle but at a cost
        the user may not expect (e.g. a model file of gigabytes)."""
        return []

    @abstractmethod
    def score(self, users: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        """Dense float32 scores, len(users) x n_items; ``user_items`` holds the users' history rows
        (all users, indexed like training). Higher is better; seen items are not masked."""

    def known_users(self, user_items: sp.csr_matrix) -> np.ndarray:
        """Which users the model can score personally (a bool per row); others get a fallback."""
        return np.diff(user_items.indptr) > 0

    def predict_ratings(self, users: np.ndarray, items: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        """The predicted rating (float64, clipped to the train ratings' scale) of each (users[j], items[j])
        pair; ``user_items`` as for ``score`` (``predicts_ratings``)."""
        raise InvalidParameterError(
            f"model '{self.name}' does not predict ratings", "train a rating-prediction model: svd or svdpp"
        )

    def shared_scores(self) -> np.ndarray | None:
        """The scores, when they are the same for every user (popularity); None otherwise.
        Full ranking then needs no users x items block (topk.top_k_of_one_order)."""
        return None

    def contributions(
        self, user: int, user_items: sp.csr_matrix, items: list[int], n: int
    ) -> list[list[tuple[int, float]]]:
        """For each of ``items``: the user's past items that contributed most to its score (``explainable``)."""
        raise InvalidParameterError(f"model '{self.name}' cannot explain its scores")

    def term_contributions(
        self, user: int, user_items: sp.csr_matrix, items: list[int], n: int
    ) -> list[list[tuple[str, float]]]:
        """For each of ``items``: the metadata terms that contributed most (``explains_with == "terms"``)."""
        raise InvalidParameterError(f"model '{self.name}' does not explain its scores by metadata terms")

    # -- embeddings (for the ANN index) ------------------------------------------------
    def item_embeddings(self) -> np.ndarray | None:
        """Item vectors whose inner product with ``user_embeddings`` is the score, if any."""
        return None

    def user_embeddings(self, users: np.ndarray) -> np.ndarray | None:
        return None

    # -- persistence -----------------------------------------------------------------
    @abstractmethod
    def state(self) -> dict[str, np.ndarray]:
        """The learned arrays, to be saved with ``allow_pickle=False``."""

    @abstractmethod
    def expected_state(self) -> dict[str, tuple[tuple[int, ...], str]]:
        """Each array's shape and dtype kind for this model's parameters and shape (checked on load)."""

    @abstractmethod
    def _restore(self, state: dict[str, np.ndarray]) -> None: ...

    def restore(self, state: dict[str, np.ndarray], n_users: int, n_items: int) -> None:
        self.n_users, self.n_items = n_users, n_items
        self._restore(state)


def strongest_contributions(past: np.ndarray, weights: np.ndarray, n: int) -> list[tuple[int, float]]:
    """The ``n`` past items with the largest non-zero contribution (ties to the lower item)."""
    order = np.lexsort((past, -weights))[:n]
    return [(int(past[i]), float(weights[i])) for i in order if weights[i] != 0]


def check_user_items(user_items) -> None:
    if not sp.isspmatrix_csr(user_items) and not isinstance(user_items, sp.csr_array):
        raise InvalidParameterError(
            f"user_items must be a scipy CSR matrix, got {type(user_items).__name__}",
            "build it with recsys_cli.data.matrices.split_matrix",
        )


def params_from_dict(params_type: type[ModelParams], values: dict[str, Any], model: str) -> ModelParams:
    """Typed, validated parameters from user input (strings from the CLI, or values from Python)."""
    fields = {f.name: f for f in dataclasses.fields(params_type)}
    hints = typing.get_type_hints(params_type)
    converted: dict[str, Any] = {}
    for key, raw in values.items():
        name = key.replace("-", "_")
        if name not in fields:
            valid = ", ".join(n.replace("_", "-") for n in fields) or "none"
            raise InvalidParameterError(f"model '{model}' has no parameter '{key}'", f"its parameters are: {valid}")
        converted[name] = _convert(raw, hints[name], key, fields[name])
    params = params_type(**converted)
    check = getattr(params, "check", None)
    if check is not None:
        check()
    return params


def _convert(raw: Any, hint: Any, key: str, field: dataclasses.Field) -> Any:
    optional = type(None) in typing.get_args(hint)
    base = next((a for a in typing.get_args(hint) if a is not type(None)), hint) if optional else hint
    if raw is None or (optional and isinstance(raw, str) and raw.lower() in ("none", "")):
        if optional:
            return None
        raise InvalidParameterError(f"parameter '{key}' needs a value", "pass one, e.g. --factors 64")
    choices = field.metadata.get("choices")
    try:
        if base is bool:
            if isinstance(raw, str):
                if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(raw)
                value: Any = raw.lower() in ("true", "1", "yes")
            elif isinstance(raw, bool) or raw in (0, 1):  # a recipe's true/false (or 0/1), never 0.5
                value = bool(raw)
            else:
                raise ValueError(raw)
        elif base is int:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError(raw)
            value = int(raw)
        elif base is float:
            if isinstance(raw, bool):
                raise ValueError(raw)
            value = float(raw)
            if not np.isfinite(value):
                raise ValueError(raw)
        else:
            value = str(raw)
    except (TypeError, ValueError):
        raise InvalidParameterError(
            f"parameter '{key}' must be {getattr(base, '__name__', base)}, got {raw!r}",
            "pass true or false" if base is bool else "pass a number",
        ) from None
    default_hint = f"leave out '{key.replace('_', '-')}' for the default ({field.default})"
    if choices and value not in choices:
        raise InvalidParameterError(
            f"parameter '{key}' must be one of {', '.join(choices)}, got {value!r}", default_hint
        )
    minimum = field.metadata.get("min")
    if minimum is not None and value < minimum:
        raise InvalidParameterError(f"parameter '{key}' must be at least {minimum}, got {value}", default_hint)
    exclusive = field.metadata.get("gt")
    if exclusive is not None and value <= exclusive:
        raise InvalidParameterError(f"parameter '{key}' must be greater than {exclusive}, got {value}", default_hint)
    return value


def param(default: Any, help: str, **limits: Any) -> Any:
    """A parameter field with its help text (shown by `recsys train candidates --help`) and limits."""
    return dataclasses.field(default=default, metadata={"help": help, **limits})
