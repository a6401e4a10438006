"""Posting Kubernetes Events without tying domain code to kopf."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import kopf

EventPoster = Callable[[str, str, str], None]


def poster(body: Mapping[str, Any]) -> EventPoster:
    """A ``post(type, reason, message)`` callable for one object (kopf batches the API calls)."""

    def post(type_: str, reason: str, message: str) -> None:
        kopf.event(body, type=type_, reason=reason, message=message[:1024])  # type: ignore[arg-type]

    return post
