"""Placeholder."""
import typer


def demo_command(ctx: typer.Context) -> None:
    """Run the offline demo (being written)."""
    raise typer.Exit(1)
