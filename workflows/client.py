"""How clients (web, worker, CLI, tests) talk to Temporal about cases."""

from __future__ import annotations


from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from workflows import search_attributes as sa
from workflows.case import CaseWorkflow
from workflows.types import CaseInput

DATA_CONVERTER: DataConverter = pydantic_data_converter


async def connect(address: str, namespace: str = "default") -> Client:
    return await Client.connect(address, namespace=namespace, data_converter=DATA_CONVERTER)


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


__all__ = ["DATA_CONVERTER", "connect", "start_case"]
