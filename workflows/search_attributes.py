"""Custom search attributes of case workflows: no personal data, only what finds a case."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CASE_STAGE = SearchAttributeKey.for_keyword("CaseStage")
FORM_TYPE = SearchAttributeKey.for_keyword("FormType")
RECEIPT_NUMBER = SearchAttributeKey.for_keyword("ReceiptNumber")
ASSIGNED_OFFICER = SearchAttributeKey.for_keyword("AssignedOfficer")
STAGE_ENTERED_AT = SearchAttributeKey.for_datetime("StageEnteredAt")
CASE_OVERDUE = SearchAttributeKey.for_bool("CaseOverdue")
SERVICE_CENTER = SearchAttributeKey.for_keyword("ServiceCenter")
PRIORITY = SearchAttributeKey.for_int("Priority")

ALL = (CASE_STAGE, FORM_TYPE, RECEIPT_NUMBER, ASSIGNED_OFFICER, STAGE_ENTERED_AT, CASE_OVERDUE, SERVICE_CENTER, PRIORITY)

# For `temporal server start-dev --search-attribute NAME=TYPE`.
CLI_TYPES = {
    CASE_STAGE.name: "Keyword",
    FORM_TYPE.name: "Keyword",
    RECEIPT_NUMBER.name: "Keyword",
    ASSIGNED_OFFICER.name: "Keyword",
    STAGE_ENTERED_AT.name: "Datetime",
    CASE_OVERDUE.name: "Bool",
    SERVICE_CENTER.name: "Keyword",
    PRIORITY.name: "Int",
}
