"""A seeded synthetic dataset with structure a recommender can actually learn.

The generative story, chosen so that every stage of the pipeline has a true
signal to find (and so that a model that beats popularity here is not lucky):

* Genres have latent vectors; an item's factor vector is a mix of its genres'
  vectors and an idiosyncratic part, so content (genres) and collaborative
  signal agree without being the same thing.
* Users belong to taste segments (named after the segment's favourite genres);
  age groups are drawn per segment, so demographics carry some taste signal.
* Items have Zipf-like popularity; users have lognormal activity.
* Items are released over the time span (plus a back catalogue) and can only
  be consumed after release; interest decays with the item's age towards an
  evergreen floor; every user is active in a window. Time-based splits
  therefore see new items and shifting popularity, as in real logs.
* Each user's items are a sample without replacement (Gumbel-top-k, i.e.
  Plackett-Luce) from logits = taste_strength * taste . factor + log popularity
  + log(interest over the user's window); ratings follow the user's relative
  affinity plus user/item biases and noise.

Everything comes from ``np.random.default_rng``-style generators spawned from
one seed, and the batch size depends on the config only, so the same config
always gives the same tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from recsys_cli.errors import InvalidParameterError
from recsys_cli.reporting import SILENT, Reporter

if TYPE_CHECKING:  # keep `recsys --help` free of numpy/pyarrow imports
    import numpy as np
    import pyarrow as pa


# Word lists read best as paragraphs: kept out of the formatter.
# fmt: off
# Ordered by how common they are in MovieLens, so the prevalence weights below
# give Drama/Comedy the lion's share, as real catalogues do.
GENRE_NAMES = (
    "Drama", "Comedy", "Action", "Thriller", "Romance", "Horror", "Adventure", "Sci-Fi",
    "Children's", "Crime", "War", "Documentary", "Musical", "Mystery", "Animation", "Fantasy",
    "Western", "Film-Noir", "Family", "Biography", "History", "Sport", "Music", "IMAX",
)
AGE_GROUPS = ("Under 18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+")
_AGE_BASE = (0.04, 0.18, 0.35, 0.20, 0.09, 0.08, 0.06)  # roughly MovieLens-1M's mix

_ADJECTIVES = (
    "Silent", "Last", "Broken", "Golden", "Hidden", "Dark", "Endless", "Lost", "Crimson", "Wild",
    "Secret", "Frozen", "Distant", "Burning", "Little", "Midnight", "Electric", "Forgotten",
    "Savage", "Quiet", "Iron", "Paper", "Glass", "Velvet", "Restless", "Hollow", "Bright", "Lonely",
)
_NOUNS = (
    "Harbor", "Kingdom", "River", "Promise", "Garden", "Empire", "Station", "Horizon", "Witness",
    "Summer", "Island", "Machine", "Stranger", "Letter", "Frontier", "Mirror", "Storm", "Heart",
    "Road", "Circus", "Signal", "Orchard", "Voyage", "Shadow", "Dynasty", "Lighthouse", "Canyon",
    "Alibi", "Ballad", "Comet", "Detective", "Wedding", "Winter", "Tide", "Galaxy", "Outlaw",
)
_SEQUEL = ("", "", "", "", "", "", " II", " III", " Returns", ": Part Two")
# fmt: on

_DAY = 86_400
# Max elements of one (users x items) score block: bounds memory (a few such
# float64 blocks live at once) while keeping numpy calls large enough to be fast.
_BLOCK = 1 << 18


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of the generator; every field has a sensible default."""

    users: int = 2000
    items: int = 1000
    interactions: int = 100_000
    seed: int = 42
    factors: int = 16
    genres: int = 18
    segments: int = 8
    popularity_skew: float = 1.0  # Zipf exponent of item popularity
    activity_sigma: float = 1.0  # lognormal sigma of per-user activity
    taste_strength: float = 10.0  # inverse temperature of the taste term
    genre_coherence: float = 0.8  # share of an item's factor explained by its genres
    start: int = 946_684_800  # 2000-01-01 UTC, as MovieLens-1M
    span_days: int = 1095
    back_catalog: float = 0.3  # share of items released before the span
    interest_half_life_days: float = 120.0
    evergreen: float = 0.15  # interest floor an old item keeps, relative to a new one
    rating_noise: float = 0.7
    half_stars: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        bad = InvalidParameterError
        for name in ("users", "items", "interactions", "factors", "genres", "segments", "span_days"):
            if getattr(self, name) < 1:
                raise bad(f"{name} must be at least 1, got {getattr(self, name)}", "pass a positive number")
        if self.seed < 0:
            raise bad(f"the seed must be >= 0, got {self.seed}", "pass a non-negative --seed")
        pairs = self.users * self.items
        if self.interactions > pairs:
            raise bad(
                f"{self.interactions:,} interactions do not fit {self.users:,} users x {self.items:,} items",
                f"each user-item pair occurs at most once: use --interactions <= {pairs:,}, or raise --users/--items",
            )
        if self.interactions < self.users:
            raise bad(
                f"{self.interactions:,} interactions cannot give each of {self.users:,} users one",
                f"use --interactions >= {self.users:,}, or lower --users",
            )
        if self.genres > len(GENRE_NAMES):
            raise bad(
                f"at most {len(GENRE_NAMES)} genres are available, got {self.genres}",
                f"use genres <= {len(GENRE_NAMES)}",
            )
        for name in ("popularity_skew", "activity_sigma", "taste_strength", "rating_noise"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise bad(f"{name} must be a finite number >= 0, got {value}", "use a value such as 1.0")
        for name in ("genre_coherence", "back_catalog", "evergreen"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise bad(f"{name} must lie in [0, 1], got {value}", "use a fraction such as 0.5")
        if not (math.isfinite(self.interest_half_life_days) and self.interest_half_life_days > 0):
            raise bad(
                f"interest_half_life_days must be > 0, got {self.interest_half_life_days}",
                "use a number of days such as 120",
            )
        if self.interest_half_life_days < self.span_days / 2000:
            # Beyond this the decay terms leave float64's range (and interest
            # would vanish within hours of release anyway).
            raise bad(
                f"interest_half_life_days {self.interest_half_life_days} is too short for a {self.span_days}-day span",
                f"use at least {self.span_days / 2000:g} days",
            )

    def describe(self) -> str:
        """``synthetic:users=..,items=..,...`` listing the fields that differ from the defaults."""
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("users", "items", "interactions", "seed") or value != f.default:
                parts.append(f"{f.name}={value}")
        return "synthetic:" + ",".join(parts)


@dataclass
class SyntheticData:
    """The generated raw tables plus the latent truth that produced them."""

    interactions: pa.Table  # user_id int64, item_id int64, rating float64, ts int64
    items: pa.Table  # item_id int64, title string, year int32, genres list<string>
    users: pa.Table  # user_id int64, age_group string, segment string
    user_factors: np.ndarray = field(repr=False)
    item_factors: np.ndarray = field(repr=False)
    config: SyntheticConfig = field(default_factory=SyntheticConfig)


def generate(config: SyntheticConfig, *, reporter: Reporter = SILENT) -> SyntheticData:
    """Generate the dataset ``config`` describes; the same config gives equal tables."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    config.validate()
    seeds = np.random.SeedSequence(config.seed).spawn(5)
    # Separate streams per concern, so e.g. the choice noise does not shift when
    # the item model changes shape.
    rng_world, rng_users, rng_choice, rng_time, rng_rating = (np.random.default_rng(s) for s in seeds)

    genre_vecs = rng_world.standard_normal((config.genres, config.factors))
    items = _make_items(config, rng_world, genre_vecs)
    users = _make_users(config, rng_users, genre_vecs, items["release"])
    # The per-batch matmuls are thin (factors wide): BLAS threads only add
    # spin-waiting, which costs seconds on a busy machine.
    with threadpool_limits(1, "blas"), reporter.task("generating interactions", total=config.users) as task:
        user_idx, item_idx, ts, rating = _sample_interactions(
            config, items, users, rng_choice, rng_time, rng_rating, task
        )
    # One int64 key (user, then time) sorts ~10x faster than np.lexsort.
    ts_rel = ts - ts.min()
    order = np.argsort(user_idx.astype(np.int64) * (int(ts_rel.max()) + 1) + ts_rel, kind="stable")
    return SyntheticData(
        interactions=_table(
            user_id=user_idx[order].astype(np.int64) + 1,
            item_id=item_idx[order].astype(np.int64) + 1,
            rating=rating[order],
            ts=ts[order],
        ),
        items=_items_table(config, items),
        users=_table(
            user_id=np.arange(1, config.users + 1, dtype=np.int64),
            age_group=np.asarray(AGE_GROUPS, dtype=object)[users["age"]],
            segment=np.asarray(users["segment_names"], dtype=object)[users["segment"]],
        ),
        user_factors=users["taste"],
        item_factors=items["factors"],
        config=config,
    )


def _make_items(config: SyntheticConfig, rng, genre_vecs) -> dict[str, Any]:
    import numpy as np

    n, g, f = config.items, config.genres, config.factors
    prevalence = 1.0 / np.arange(1, g + 1) ** 0.8
    # 1-3 genres per item, drawn without replacement by prevalence (Gumbel-top-3).
    n_item_genres = np.minimum(rng.choice([1, 2, 3], size=n, p=[0.45, 0.35, 0.20]), g)
    keys = np.log(prevalence)[None, :] + rng.gumbel(size=(n, g))
    top = np.argsort(-keys, axis=1, kind="stable")[:, : min(3, g)]
    has = np.arange(top.shape[1])[None, :] < n_item_genres[:, None]
    # The first genre weighs most: an item is mainly a thriller, a bit romance.
    weights = np.where(has, np.array([1.0, 0.6, 0.4])[: top.shape[1]], 0.0)
    genre_part = np.einsum("ik,ikf->if", weights, genre_vecs[top]) / np.sqrt((weights**2).sum(1))[:, None]
    coherence = config.genre_coherence
    factors = coherence * genre_part + math.sqrt(1 - coherence**2) * rng.standard_normal((n, f))
    factors /= math.sqrt(f)

    # Zipf popularity over a random ranking, so item ids say nothing about it.
    rank = rng.permutation(n)
    log_pop = -config.popularity_skew * np.log1p(rank)
    quality = 0.15 * _zscore(log_pop) + rng.normal(0.0, 0.3, n)

    span = float(config.span_days)
    old = rng.random(n) < config.back_catalog
    # A back catalogue thinning out into the past (a few days to ~70 years old);
    # new releases spread over the span, all at least a day before its end.
    back = -np.exp(rng.uniform(math.log(2.0), math.log(25_000.0), n))
    fresh = rng.uniform(0.0, max(span - 1.0, 0.0), n)
    release = np.floor(np.where(old, back, fresh) * _DAY) / _DAY  # whole seconds
    return {
        "genres": top,
        "n_genres": n_item_genres,
        "factors": factors,
        "log_pop": log_pop,
        "quality": quality,
        "release": release,  # days since config.start
        "title_rng": rng.integers(0, 1 << 30, size=(n, 4)),
    }


def _make_users(config: SyntheticConfig, rng, genre_vecs, release) -> dict[str, Any]:
    import numpy as np

    n, g, f = config.users, config.genres, config.factors
    k = config.segments
    # Each segment loves one or two genres; its members' tastes scatter around them.
    fav = np.stack([rng.permutation(max(g, 2))[:2] % g for _ in range(k)])
    two = (rng.random(k) < 0.6) & (g > 1)
    centers = np.where(
        two[:, None], (genre_vecs[fav[:, 0]] + genre_vecs[fav[:, 1]]) / math.sqrt(2), genre_vecs[fav[:, 0]]
    )
    names = [GENRE_NAMES[a] + ("/" + GENRE_NAMES[b] if t else "") for (a, b), t in zip(fav, two)]
    names = [f"{name} fans" if names.count(name) == 1 else f"{name} fans #{i + 1}" for i, name in enumerate(names)]
    seg_weights = rng.dirichlet(np.full(k, 2.0))
    segment = rng.choice(k, size=n, p=seg_weights)
    taste = (0.75 * centers[segment] + 0.66 * rng.standard_normal((n, f))) / math.sqrt(f)

    # Age groups drawn per segment: tastes and demographics are correlated.
    age_mix = rng.dirichlet(np.asarray(_AGE_BASE) * 8.0, size=k)
    age = (rng.random(n)[:, None] > np.cumsum(age_mix[segment], axis=1)).sum(1)
    age = np.minimum(age, len(AGE_GROUPS) - 1)

    counts = _split_counts(config.interactions, rng.lognormal(0.0, config.activity_sigma, n), config.items)
    span = float(config.span_days)
    # Heavy users stay longer; everyone's window lies inside the span.
    rel = counts / counts.mean()
    length = np.clip(span * 0.25 * np.exp(rng.normal(0.0, 0.7, n)) * rel**0.3, 1.0, span)
    begin = rng.uniform(0.0, 1.0, n) * (span - length)
    end = begin + length
    # A user can only pick released items: stretch a window until enough exist.
    needed = np.sort(release)[counts - 1] + 1.0 / _DAY
    end = np.minimum(np.maximum(end, needed), span)
    return {
        "taste": taste,
        "segment": segment,
        "segment_names": names,
        "age": age,
        "counts": counts,
        "begin": begin,
        "end": end,
        "bias": rng.normal(0.0, 0.35, n),
    }


def _split_counts(total: int, weights, cap: int):
    """Integer counts >= 1 and <= cap summing to ``total``, proportional to ``weights``."""
    import numpy as np

    n = len(weights)
    counts = np.ones(n, dtype=np.int64)
    remaining = total - n
    free = np.ones(n, dtype=bool)
    while remaining > 0:
        w = np.where(free, weights, 0.0)
        share = remaining * w / w.sum()
        room = cap - counts
        over = free & (share >= room)
        if over.any():  # cap those users, hand their excess to the others next round
            remaining -= int(room[over].sum())
            counts[over] = cap
            free &= ~over
            continue
        base = np.floor(share).astype(np.int64)
        counts += base
        left = remaining - int(base.sum())
        # Largest remainders get the last units; stable sort keeps it deterministic.
        frac = np.where(free & (counts < cap), share - base, -1.0)
        counts[np.argsort(-frac, kind="stable")[:left]] += 1
        remaining = 0
    return counts


def _sample_interactions(config: SyntheticConfig, items, users, rng_choice, rng_time, rng_rating, task):
    import numpy as np

    n_items = config.items
    counts = users["counts"]
    h = config.interest_half_life_days / math.log(2.0)  # decay time constant in days
    floor = config.evergreen
    release = items["release"]
    factors_t = np.ascontiguousarray(items["factors"].T)
    base_logit = items["log_pop"][None, :]
    # exp(-(t - r)/h) factors into a per-item and a per-user term, which turns
    # the (users x items) interest block into a few multiplications instead of
    # exponentials. Exponents are centred on the span's middle so they stay in
    # float64's range (validate() bounds span/half-life); very old items just
    # underflow to zero decay, which they practically have.
    centre = config.span_days / (2.0 * h)
    item_decay = ((1.0 - floor) * h * np.exp(release / h - centre))[None, :]
    released = release[None, :]
    # A user's affinity over the catalogue has mean taste . mean(V) and
    # variance taste' Cov(V) taste: exact, and cheaper than a pass over the block.
    item_mean = items["factors"].mean(0)
    centered = items["factors"] - item_mean
    item_cov = centered.T @ centered / len(centered)  # np.cov(bias=True), also for a single item

    # Users in order of activity: a batch's k-max then sits close to each of its
    # users' counts, so the partial sort does little wasted work.
    by_activity = np.argsort(counts, kind="stable")
    rows = max(1, _BLOCK // n_items)
    out_u, out_i, out_t, out_r = [], [], [], []
    for start in range(0, config.users, rows):
        batch = by_activity[start : start + rows]
        k = counts[batch]
        affinity = users["taste"][batch] @ factors_t  # (B, I)
        a, b = users["begin"][batch][:, None], users["end"][batch][:, None]
        # Interest over the part of [a, b] after release: floor * width plus
        # the decaying part (1-floor) * h * (exp(-(max(a,r)-r)/h) - exp(-(b-r)/h)).
        width = np.minimum(b - a, b - released)
        with np.errstate(over="ignore", invalid="ignore"):  # inf only where min() or where() drop it
            mass = np.minimum(item_decay * np.exp(centre - a / h), (1.0 - floor) * h)
            mass -= item_decay * np.exp(centre - b / h)
            mass += floor * width
        # Released after the window: impossible; otherwise possible, if unlikely.
        mass = np.where(width > 0, np.maximum(mass, 1e-300), 0.0)
        # Gumbel-top-k via exponential races: the k largest of logit - log(E)
        # are a sample of k items without replacement, proportional to exp(logit).
        mass /= rng_choice.standard_exponential(mass.shape)
        with np.errstate(divide="ignore"):
            keys = np.log(mass)
        keys += config.taste_strength * affinity
        keys += base_logit
        kmax = int(k.max())
        if kmax < n_items:
            top = np.argpartition(keys, n_items - kmax, axis=1)[:, n_items - kmax :]
        else:
            top = np.broadcast_to(np.arange(n_items), keys.shape)
        top_keys = np.take_along_axis(keys, top, axis=1)
        top = np.take_along_axis(top, np.argsort(-top_keys, axis=1, kind="stable"), axis=1)
        keep = np.arange(kmax)[None, :] < k[:, None]
        row = np.nonzero(keep)[0]
        item = top[keep]
        out_u.append(batch[row])
        out_i.append(item)
        r = release[item]
        out_t.append(_sample_times(rng_time, a[row, 0], b[row, 0], np.maximum(a[row, 0], r), r, h, floor))
        # Ratings follow how much a user likes an item relative to the whole
        # catalogue (a z-score), so every user uses the whole scale.
        taste = users["taste"][batch[row]]
        mu = taste @ item_mean
        sd = np.sqrt(((taste @ item_cov) * taste).sum(1)) + 1e-12
        z = (affinity[row, item] - mu) / sd
        out_r.append(_ratings(config, rng_rating, z, users["bias"][batch[row]], items["quality"][item]))
        task.advance(len(batch))
    user_idx = np.concatenate(out_u)
    item_idx = np.concatenate(out_i)
    ts = np.concatenate(out_t) + np.int64(config.start)
    rating = np.concatenate(out_r)
    return user_idx, item_idx, ts, rating


def _sample_times(rng, a, b, s, r, h, floor):
    """Draw each chosen pair's timestamp from its interest density on [s, b]."""
    import numpy as np

    width = b - s
    uniform_mass = floor * width
    decay_mass = (1.0 - floor) * h * np.exp(-(s - r) / h) * -np.expm1(-width / h)
    total = uniform_mass + decay_mass
    pick_uniform = rng.random(len(s)) * np.where(total > 0, total, 1.0) < uniform_mass
    u = rng.random(len(s))
    # Inverse CDF of an exponential truncated to [s, b].
    t_decay = s - h * np.log1p(-u * -np.expm1(-width / h))
    t = np.where(pick_uniform, s + u * width, t_decay)
    seconds = np.floor(t * _DAY).astype(np.int64)
    lo = np.ceil(s * _DAY).astype(np.int64)
    hi = np.floor(b * _DAY).astype(np.int64)
    return np.clip(seconds, lo, np.maximum(lo, hi))  # seconds after config.start


def _ratings(config: SyntheticConfig, rng, z, user_bias, quality):
    import numpy as np

    latent = 2.3 + 0.85 * z + user_bias + quality + rng.normal(0.0, config.rating_noise, len(z))
    step = 0.5 if config.half_stars else 1.0
    return np.clip(np.round(latent / step) * step, 1.0, 5.0)


def _zscore(x):
    return (x - x.mean()) / (x.std() + 1e-12)


def _table(**columns) -> pa.Table:
    import pyarrow as pa

    return pa.table({name: pa.array(values) for name, values in columns.items()})


def _items_table(config: SyntheticConfig, items) -> pa.Table:
    import numpy as np
    import pyarrow as pa

    n = config.items
    pick = items["title_rng"]
    adjectives = np.asarray(_ADJECTIVES, dtype=object)[pick[:, 0] % len(_ADJECTIVES)]
    nouns = np.asarray(_NOUNS, dtype=object)[pick[:, 1] % len(_NOUNS)]
    others = np.asarray(_NOUNS, dtype=object)[pick[:, 2] % len(_NOUNS)]
    sequels = np.asarray(_SEQUEL, dtype=object)[pick[:, 3] % len(_SEQUEL)]
    patterns = pick[:, 3] % 4
    titles = [
        (
            f"The {adj} {noun}"
            if p == 0
            else f"{noun} of the {other}"
            if p == 1
            else f"{adj} {noun}"
            if p == 2
            else f"The {noun}"
        )
        + seq
        for adj, noun, other, seq, p in zip(adjectives, nouns, others, sequels, patterns)
    ]
    release_s = config.start + np.floor(items["release"] * _DAY).astype(np.int64)
    year = release_s.astype("datetime64[s]").astype("datetime64[Y]").astype(np.int64) + 1970
    has = np.arange(items["genres"].shape[1])[None, :] < items["n_genres"][:, None]
    flat = items["genres"][has]
    offsets = np.concatenate([[0], np.cumsum(items["n_genres"])]).astype(np.int32)
    genres = pa.ListArray.from_arrays(
        pa.array(offsets), pa.array(np.asarray(GENRE_NAMES, dtype=object)[flat], type=pa.string())
    )
    return pa.table(
        {
            "item_id": pa.array(np.arange(1, n + 1, dtype=np.int64)),
            "title": pa.array(titles, type=pa.string()),
            "year": pa.array(year.astype(np.int32)),
            "genres": genres,
            "released_at": pa.array(release_s),
        }
    )
