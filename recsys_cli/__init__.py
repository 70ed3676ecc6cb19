"""recsys: a command-line workbench for two-stage recommender systems.

The library holds all the logic; the ``recsys`` command only parses arguments
and renders results. The public Python API::

    from recsys_cli import Workspace, ingest_card, ingest_file, ingest_synthetic, make_split
"""

from recsys_cli.version import __version__

__all__ = [
    "__version__",
    "Workspace",
    "ColumnMapping",
    "CsvDialect",
    "SyntheticConfig",
    "SplitConfig",
    "ingest_card",
    "ingest_file",
    "ingest_synthetic",
    "make_split",
    "load_card",
    "list_cards",
    "RecsysError",
]


def __getattr__(name: str):
    # Lazy: `import recsys_cli` (and so `recsys --help`) must not pull in DuckDB or numpy.
    if name == "Workspace":
        from recsys_cli.data.workspace import Workspace

        return Workspace
    if name in ("ColumnMapping", "CsvDialect"):
        from recsys_cli.datasets import interaction_file

        return getattr(interaction_file, name)
    if name == "ingest_file":
        from recsys_cli.datasets.ingest import ingest_file

        return ingest_file
    if name == "ingest_card":
        from recsys_cli.datasets.ingest import ingest_card

        return ingest_card
    if name in ("load_card", "list_cards"):
        from recsys_cli.datasets import cards

        return getattr(cards, name)
    if name == "SyntheticConfig":
        from recsys_cli.datasets.synthetic import SyntheticConfig

        return SyntheticConfig
    if name == "ingest_synthetic":
        from recsys_cli.datasets.ingest import ingest_synthetic

        return ingest_synthetic
    if name in ("SplitConfig", "make_split"):
        from recsys_cli.data import splits

        return getattr(splits, name)
    if name == "RecsysError":
        from recsys_cli.errors import RecsysError

        return RecsysError
    raise AttributeError(f"module 'recsys_cli' has no attribute {name!r}")
