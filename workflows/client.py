"""How clients (web, worker, CLI, tests) talk to Temporal about cases."""

from __future__ import annotations

import dataclasses
from functools import lru_cache

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.runtime import Runtime

from workflows import search_attributes as sa
from workflows.case import CaseWorkflow
from workflows.codec import DEV_PAYLOAD_KEYS, EncryptionCodec
from workflows.types import CaseInput


@lru_cache(maxsize=8)
def data_converter(payload_keys: str) -> DataConverter:
    """Pydantic payloads, encrypted by the codec (``workflows.codec``), with failure messages and
    stack traces moved into the encrypted attributes. Every client uses it, or none can read the
    others' payloads."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(payload_keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


# The development key's converter (tests and the replayer; deployments pass their keys to connect).
DATA_CONVERTER: DataConverter = data_converter(DEV_PAYLOAD_KEYS)


async def connect(
    address: str, namespace: str = "default", *, payload_keys: str = DEV_PAYLOAD_KEYS, runtime: Runtime | None = None
) -> Client:
    """``runtime``: a Temporal runtime of its own, e.g. the worker's, which serves the SDK's metrics."""
    return await Client.connect(
        address, namespace=namespace, data_converter=data_converter(payload_keys), runtime=runtime
    )


async def start_case(client: Client, inp: CaseInput, *, task_queue: str) -> WorkflowHandle:
    """Start the case's workflow (id = receipt number). A second start for the same receipt is refused."""
    return await client.start_workflow(
        CaseWorkflow.run,
        inp,
        id=inp.receipt_number,
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(sa.RECEIPT_NUMBER, inp.receipt_number),
                SearchAttributePair(sa.FORM_TYPE, inp.form_type),
                SearchAttributePair(sa.CASE_STAGE, "intake"),
                SearchAttributePair(sa.STAGE_ENTERED_AT, inp.filed_at),
            ]
        ),
        static_summary=f"{inp.form_type} · {inp.receipt_number}",
    )


__all__ = ["DATA_CONVERTER", "connect", "data_converter", "start_case"]
