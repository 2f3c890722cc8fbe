"""Declarative, resumable benchmark grids (``siftrec bench``): TOML grid → cells → results."""

from siftrec.benchgrid.check import GridProblems, check_cells
from siftrec.benchgrid.grid import (
    Cell,
    DatasetSpec,
    Grid,
    ModelSpec,
    NoiseSpec,
    load_grid,
    parse_grid,
)
from siftrec.benchgrid.report import write_plots, write_summary
from siftrec.benchgrid.runner import RunSummary, run_grid

__all__ = [
    "Cell",
    "DatasetSpec",
    "Grid",
    "GridProblems",
    "ModelSpec",
    "NoiseSpec",
    "RunSummary",
    "check_cells",
    "load_grid",
    "parse_grid",
    "run_grid",
    "write_plots",
    "write_summary",
]
