"""The ``voxelwise`` command line: a thin front-end over the library.

Every subcommand parses its arguments, calls one library function and prints the result.
User mistakes (any :class:`~voxelwise.errors.VoxelwiseError`) print one line and exit with 2.
"""

from __future__ import annotations

from voxelwise.cli._main import build_parser, main

__all__ = ["build_parser", "main"]
