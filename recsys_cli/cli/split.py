"""Placeholder: `recsys split` is being written."""
import typer


def split_command(ctx: typer.Context) -> None:
    """Split a dataset into train/val/test (being written)."""
    raise typer.Exit(1)
