"""Python client of the voxelwise server (``pip install voxelwise[server]``).

:class:`Client` has every REST operation as a method; layers come as lazy dask arrays whose
chunks are fetched over HTTP when computed (so napari and notebooks browse remote volumes
without downloading them); long operations return a :class:`Job` with ``wait()``, progress
callbacks and ``cancel()``. Server errors raise :class:`ServerError` subclasses that also
inherit the builtin a Python user expects (``KeyError`` for 404, ``PermissionError`` for
401/403, ``FileExistsError`` for 409, ``ValueError`` for 400/413/422).

>>> from voxelwise.client import Client
>>> c = Client("http://127.0.0.1:8130", token="vw_...")  # doctest: +SKIP
>>> job = c.compute_features("cells", "small")  # doctest: +SKIP
>>> job.wait(progress=lambda f, msg: print(f"{f:.0%} {msg}"))  # doctest: +SKIP
>>> c.get("cells", "gaussian_s1.0")[10].compute()  # doctest: +SKIP
"""

from __future__ import annotations

from voxelwise.client._client import Client
from voxelwise.client._errors import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    JobFailedError,
    JobInterruptedError,
    NotFoundError,
    PayloadTooLargeError,
    ServerError,
)
from voxelwise.client._jobs import Job

__all__ = [
    "AuthenticationError",
    "Client",
    "ConflictError",
    "ForbiddenError",
    "InvalidRequestError",
    "Job",
    "JobFailedError",
    "JobInterruptedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "ServerError",
]
