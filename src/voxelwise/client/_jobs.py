"""Job handles: state, progress, logs, cancel, resubmit, and ``wait()`` over server-sent events."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from voxelwise.client._errors import JobFailedError, JobInterruptedError, ServerError
from voxelwise.client._http import Http, seg
from voxelwise.errors import CancelledError

__all__ = ["FINAL", "Job"]

FINAL = ("succeeded", "failed", "cancelled", "interrupted")
ProgressCallback = Callable[[float, str], None]


def parse_sse(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    """(event, data) pairs of a server-sent event stream (comments and ids skipped)."""
    event, data = "message", list[str]()
    for line in lines:
        if line == "":
            if data:
                text = "\n".join(data)
                try:
                    yield event, json.loads(text)
                except ValueError:
                    yield event, text
            event, data = "message", list[str]()
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


class Job:
    """A job on the server: ``state``, ``progress`` (0-1), ``message``, ``result``, ``error``.

    Examples
    --------
    >>> job = client.compute_features("cells", "small")  # doctest: +SKIP
    >>> job.wait(progress=lambda f, msg: print(f"{f:.0%} {msg}"))  # doctest: +SKIP
    {'layers': ['gaussian_s1.0', ...]}
    """

    def __init__(self, http: Http, info: dict[str, Any]) -> None:
        self._http = http
        self.info = dict(info)

    def __repr__(self) -> str:
        return f"Job({self.id!r}, kind={self.kind!r}, state={self.state!r}, progress={self.progress:.2f})"

    id = property(lambda self: str(self.info["id"]))
    kind = property(lambda self: str(self.info["kind"]))
    state = property(lambda self: str(self.info["state"]))
    progress = property(lambda self: float(self.info["progress"]))
    message = property(lambda self: str(self.info.get("message", "")))
    result = property(lambda self: self.info.get("result"))
    error = property(lambda self: self.info.get("error"))

    @property
    def done(self) -> bool:
        """Whether the job has ended (succeeded, failed, cancelled or interrupted)."""
        return self.state in FINAL

    def refresh(self) -> Job:
        self.info = self._http.json("GET", f"/jobs/{seg(self.id)}")
        return self

    def logs(self, *, after: int = 0) -> list[dict[str, Any]]:
        """The job's log lines (``id``, ``time``, ``level``, ``message``)."""
        return list(self._http.json("GET", f"/jobs/{seg(self.id)}/logs", params={"after": after}))

    def cancel(self) -> Job:
        """Ask the server to cancel; the state becomes ``cancelled`` once the job has stopped."""
        self.info = self._http.json("POST", f"/jobs/{seg(self.id)}/cancel")
        return self

    def resubmit(self, **params: Any) -> Job:
        """Run the job again as a new job, with some parameters changed."""
        info = self._http.json("POST", f"/jobs/{seg(self.id)}/resubmit", json={"params": params})
        return Job(self._http, info)

    def events(self, *, read_timeout: float = 60.0) -> Iterator[tuple[str, Any]]:
        """The server-sent events of the job (``("job", info)``, ``("log", line)``) until it ends."""
        with self._http.stream(f"/jobs/{seg(self.id)}/events", read_timeout=read_timeout) as r:
            if r.status_code >= 400:
                r.read()
                self._http.request("GET", f"/jobs/{seg(self.id)}")  # raises the proper error
            yield from parse_sse(r.iter_lines())

    def wait(
        self,
        timeout: float | None = None,
        *,
        progress: ProgressCallback | None = None,
        poll: float = 0.5,
        raise_on_error: bool = True,
    ) -> dict[str, Any] | None:
        """Block until the job ends; returns its result.

        Follows the job's event stream (polling if the stream breaks) and calls
        ``progress(fraction, message)`` whenever either changes.

        Raises
        ------
        JobFailedError
            The job failed (its error is the message).
        CancelledError
            The job was cancelled.
        JobInterruptedError
            A server restart interrupted it (``job.resubmit()`` runs it again).
        TimeoutError
            It is still running after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        seen: tuple[float, str] | None = None

        def update(info: dict[str, Any]) -> None:
            nonlocal seen
            self.info = info
            now = (float(info["progress"]), str(info.get("message", "")))
            if progress is not None and now != seen:
                progress(*now)
            seen = now

        use_events = timeout is None
        while not self.done:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(
                    f"Job {self.id} ({self.kind}) is still {self.state} after {timeout} s"
                )
            if use_events:
                try:
                    for event, data in self.events():
                        if event == "job" and isinstance(data, dict):
                            update(data)
                    self.refresh()
                    continue
                except (OSError, ServerError, ValueError):
                    use_events = False  # e.g. a proxy that buffers streams: poll instead
                except Exception as e:  # httpx transport errors
                    if type(e).__module__.split(".")[0] != "httpx":
                        raise
                    use_events = False
            update(self._http.json("GET", f"/jobs/{seg(self.id)}"))
            if not self.done:
                time.sleep(poll)
        update(self.info)
        if raise_on_error:
            self._raise()
        return self.result

    def _raise(self) -> None:
        if self.state == "failed":
            raise JobFailedError(
                f"Job {self.id} ({self.kind}) failed: {self.error}", type="JobFailed"
            )
        if self.state == "cancelled":
            raise CancelledError(f"Job {self.id} ({self.kind}) was cancelled")
        if self.state == "interrupted":
            raise JobInterruptedError(
                f"Job {self.id} ({self.kind}) was interrupted by a server restart; "
                "job.resubmit() runs it again",
                type="JobInterrupted",
            )
