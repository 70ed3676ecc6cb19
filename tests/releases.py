"""Tiny releases in MovieLens file formats, written by code, for tests that need no real data."""

from __future__ import annotations

import zipfile
from pathlib import Path


def flags(*set_: int) -> str:
    values = ["0"] * 19
    for i in set_:
        values[i] = "1"
    return "|".join(values)


def write_tiny_ml100k(folder: Path) -> Path:
    """A few lines in the ml-100k formats: 3 users, 4 rated items, one unrated catalogue item."""
    folder.mkdir(parents=True, exist_ok=True)
    ratings = [(1, 1, 5, 881250949), (1, 2, 3, 881250950), (2, 1, 4, 881250951),
               (2, 3, 2, 881250952), (3, 2, 1, 881250953), (3, 4, 4, 881250954)]
    (folder / "u.data").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in ratings))
    items = [
        f"1|Toy Story (1995)|01-Jan-1995||http://x|{flags(3, 4, 5)}",
        f"2|Misérables, Les (1995)|01-Jan-1995||http://y|{flags(8, 12)}",
        f"3|unknown||||{flags(0)}",
        f"4|Cité des enfants perdus, La (1995)|01-Jan-1995||http://z|{flags(9)}",
        f"5|Never Rated (1996)|01-Jan-1996||http://w|{flags(1)}",
    ]
    (folder / "u.item").write_bytes(("\n".join(items) + "\n").encode("latin-1"))
    (folder / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n3|23|M|writer|T8H1N\n")
    return folder


def zip_folder(folder: Path, target: Path, root: str, extra=(), compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(target, "w", compression) as zf:
        for path in sorted(folder.iterdir()):
            if path.is_file():
                zf.write(path, f"{root}/{path.name}" if root else path.name)
        for info, data in extra:
            zf.writestr(info, data)
    return target


def ingest_partial(workspace_dir: Path, card: str, source, **kwargs):
    """Ingest a deliberately partial release (its count is not the card's) through the Python API.

    Tiny releases never have the published interaction count, so they need
    ``allow_count_mismatch=True``; the Python API has it whatever the CLI offers.
    """
    from recsys_cli.data.workspace import Workspace
    from recsys_cli.datasets.ingest import ingest_card

    return ingest_card(Workspace(workspace_dir), card, source, allow_count_mismatch=True, **kwargs)
