from __future__ import annotations

import numpy as np
import pytest

from voxelwise._validate import (
    as_volume_shape,
    parse_bin,
    parse_chunks,
    parse_halo,
    parse_rng,
    parse_roi,
    parse_spacing,
    roi_to_str,
)
from voxelwise.errors import ChunkingError, InvalidVolumeError, RoiError


@pytest.mark.parametrize(
    ("roi", "expected"),
    [
        (None, (slice(0, 10), slice(0, 20), slice(0, 30))),
        ("2:5,0:20,10:", (slice(2, 5), slice(0, 20), slice(10, 30))),
        (":,-5:,:", (slice(0, 10), slice(15, 20), slice(0, 30))),
        ([(1, 2), (3, 4), (5, 6)], (slice(1, 2), slice(3, 4), slice(5, 6))),
        ((slice(None), slice(1, None), slice(None, 3)), (slice(0, 10), slice(1, 20), slice(0, 3))),
    ],
)
def test_parse_roi_normalises(roi, expected):
    assert parse_roi(roi, (10, 20, 30)) == expected


@pytest.mark.parametrize("roi", ["0:11,:,:", "5:5,:,:", "0:2,0:2", "a:b,:,:", "3:1,:,:"])
def test_parse_roi_refuses_outside_or_empty(roi):
    with pytest.raises(RoiError) as e:
        parse_roi(roi, (10, 20, 30))
    assert "z0:z1" in str(e.value) or "(z, y, x)" in str(e.value) or "whole numbers" in str(e.value)


def test_parse_roi_message_gives_shape():
    with pytest.raises(RoiError, match=r"\(10, 20, 30\)"):
        parse_roi("0:5,0:50,:", (10, 20, 30))


def test_roi_to_str_round_trips():
    roi = parse_roi("1:4,2:9,0:3", (10, 10, 10))
    assert parse_roi(roi_to_str(roi), (10, 10, 10)) == roi


def test_parse_bin_spacing_halo_chunks():
    assert parse_bin(2) == (2, 2, 2)
    assert parse_bin("1,2,2") == (1, 2, 2)
    assert parse_spacing((50, 4, 4)) == (50.0, 4.0, 4.0)
    assert parse_halo(3) == (3, 3, 3)
    assert parse_chunks(None, (20, 1024, 1024)) == (20, 256, 256)
    assert parse_chunks((8, 500, 500), (10, 100, 1000)) == (8, 100, 500)
    with pytest.raises(ValueError, match="bin >= 1"):
        parse_bin(0)
    with pytest.raises(TypeError):
        parse_bin(1.5)
    with pytest.raises(ValueError, match="positive, finite"):
        parse_spacing((1, float("nan"), 1))
    with pytest.raises(ChunkingError):
        parse_chunks((0, 1, 1), (4, 4, 4))


def test_as_volume_shape():
    assert as_volume_shape((5, 6)) == (1, 5, 6)
    assert as_volume_shape((2, 5, 6)) == (2, 5, 6)
    with pytest.raises(InvalidVolumeError, match="channel_axis"):
        as_volume_shape((2, 5, 6, 3))
    with pytest.raises(InvalidVolumeError, match="zero-size"):
        as_volume_shape((0, 5, 6))
    with pytest.raises(InvalidVolumeError):
        as_volume_shape((5,))


def test_parse_rng():
    g = np.random.default_rng(1)
    assert parse_rng(g) is g
    assert parse_rng(3).integers(100) == np.random.default_rng(3).integers(100)
    with pytest.raises(TypeError):
        parse_rng("seed")
