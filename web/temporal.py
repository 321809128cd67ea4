"""A lazily connected, shared Temporal client for the web app."""

from __future__ import annotations

import asyncio

from fastapi import HTTPException
from temporalio.client import Client

from workflows.client import connect


class TemporalUnavailable(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=503, detail="temporal")


class LazyTemporalClient:
    def __init__(self, address: str, namespace: str, payload_keys: str) -> None:
        self._address = address
        self._namespace = namespace
        self._payload_keys = payload_keys
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    def set(self, client: Client) -> None:
        self._client = client

    async def get(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await asyncio.wait_for(connect(self._address, self._namespace, payload_keys=self._payload_keys), timeout=10)
                except Exception as exc:  # connection refused, DNS, timeout: tell the person, keep the data
                    raise TemporalUnavailable() from exc
            return self._client
