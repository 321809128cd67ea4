"""The steps of an e-filing journey: one topic per page, in order, for any form of the catalog.

A form's questions are grouped into pages by their ``section``; before them a representative names
their client, after them come the documents, the fee, the check-your-answers page and, when a fee is
paid, the payment. Which steps a draft has completed is kept on the draft, so a person resumes
where they stopped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from i18n import N_
from models.forms import FieldSpec, FormSpec
from models.tables import Draft

CLIENT, EVIDENCE, FEE, REVIEW, PAY = "client", "evidence", "fee", "review", "pay"
FIXED_STEPS = frozenset({CLIENT, EVIDENCE, FEE, REVIEW, PAY})


@dataclass(frozen=True)
class Step:
    name: str  # in the URL: /efile/drafts/<id>/<name>
    label: str  # msgid
    fields: tuple[FieldSpec, ...] = ()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def question_steps(form: FormSpec) -> list[Step]:
    """One step per section of the form's questions, in the order the questions come."""
    steps: list[Step] = []
    for spec in form.fields:
        name = _slug(spec.section) or "questions"
        if steps and steps[-1].name == name:
            steps[-1] = Step(name, steps[-1].label, (*steps[-1].fields, spec))
        else:
            steps.append(Step(name, spec.section or N_("Your answers"), (spec,)))
    assert not FIXED_STEPS & {s.name for s in steps}, "a section is named like a fixed step"
    return steps


def steps_for(form: FormSpec, draft: Draft, *, representative: bool) -> list[Step]:
    steps = [Step(CLIENT, N_("Your client"))] if representative else []
    steps += question_steps(form)
    steps += [Step(EVIDENCE, N_("Documents")), Step(FEE, N_("Fee"))]
    steps.append(Step(REVIEW, N_("Check your answers")))
    if pays_online(form, draft):
        steps.append(Step(PAY, N_("Payment")))
    return steps


def fee_owed(form: FormSpec, draft: Draft) -> int:
    """The fee this draft would be filed with, in cents (0 when a waiver is asked for)."""
    return 0 if draft.fee_option == "waiver" and form.fee_waiver else form.fee_for(draft.answers)


def pays_online(form: FormSpec, draft: Draft) -> bool:
    return fee_owed(form, draft) > 0


def step_named(steps: list[Step], name: str) -> Step | None:
    return next((s for s in steps if s.name == name), None)


def next_after(steps: list[Step], name: str) -> Step | None:
    names = [s.name for s in steps]
    index = names.index(name)
    return steps[index + 1] if index + 1 < len(steps) else None


def previous_before(steps: list[Step], name: str) -> Step | None:
    names = [s.name for s in steps]
    index = names.index(name)
    return steps[index - 1] if index > 0 else None


def resume_step(steps: list[Step], draft: Draft) -> Step:
    """The first step not completed yet; the check-your-answers page once every earlier one is."""
    done = set(draft.completed_steps or [])
    for step in steps:
        if step.name in (REVIEW, PAY):
            break
        if step.name not in done:
            return step
    return step_named(steps, REVIEW) or steps[-1]


def step_of_field(steps: list[Step], field_name: str) -> Step | None:
    return next((s for s in steps if any(f.name == field_name for f in s.fields)), None)
