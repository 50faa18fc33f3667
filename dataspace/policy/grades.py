"""Classification grades (分类分级) and what each allows an agreement to grant.

=========  ==================================================================================
grade      conditions for concluding an agreement
=========  ==================================================================================
general    none beyond the policy itself
important  the operator's approval; a recipient outside CN also needs an export approval
           on record (出境管控)
core       everything ``important`` needs, and the policy may permit only ``aggregate``
           (compute-to-data): no permission may deliver raw rows (``use``, ``distribute``)
=========  ==================================================================================

Grades are cumulative: each grade's conditions include those of the grades below it, so
moving a product to a higher grade can only refuse more. :func:`check_grade` is pure: the
caller looks the approvals up and passes them in.
"""

from __future__ import annotations

from enum import StrEnum

from dataspace.errors import InvalidInput, Unauthorized
from dataspace.policy.model import Policy
from dataspace.policy.vocabulary import (
    HOME_COUNTRY,
    RAW_ACTIONS,
    REGION_PATTERN,
    region_within,
)


class Grade(StrEnum):
    GENERAL = "general"
    IMPORTANT = "important"
    CORE = "core"


def check_grade(
    grade: Grade,
    policy: Policy,
    recipient_region: str,
    operator_approved: bool,
    export_approved: bool,
) -> list[str]:
    """Return the reasons an agreement under ``policy`` may be concluded for this grade.

    Raises InvalidInput when the policy itself is not allowed for the grade (a core product
    offered raw) and Unauthorized when an approval the grade needs is missing.
    """
    grade = Grade(grade)
    if REGION_PATTERN.fullmatch(recipient_region) is None:
        raise InvalidInput(
            f"The recipient region {recipient_region!r} is not a region code such as CN-JS."
        )
    if grade is Grade.GENERAL:
        return ["general grade: no conditions beyond the policy"]
    reasons = _raw_delivery_reasons(grade, policy)
    if not operator_approved:
        raise Unauthorized(
            f"An agreement for {grade.value}-grade data needs the operator's approval; "
            "ask the data-space operator to approve it first."
        )
    reasons.append(f"{grade.value} grade: the operator approved the agreement")
    reasons.append(_export_reason(grade, recipient_region, export_approved))
    return reasons


def _raw_delivery_reasons(grade: Grade, policy: Policy) -> list[str]:
    if grade is not Grade.CORE:
        return []
    for index, permission in enumerate(policy.permissions):
        if permission.action in RAW_ACTIONS:
            raise InvalidInput(
                f"The policy {policy.uid!r} permits {permission.action.value!r} in "
                f"permission[{index}], but core-grade data never leaves raw; offer only "
                "'aggregate' (compute-to-data)."
            )
    return ["core grade: the policy permits no raw delivery, only compute-to-data"]


def _export_reason(grade: Grade, recipient_region: str, export_approved: bool) -> str:
    if region_within(recipient_region, HOME_COUNTRY):
        return f"{grade.value} grade: the recipient region {recipient_region} is within CN"
    if not export_approved:
        raise Unauthorized(
            f"{grade.value.capitalize()}-grade data may not go to a recipient in "
            f"{recipient_region} without an export approval (出境管控); record the "
            "approval first."
        )
    return f"{grade.value} grade: export approval on record for {recipient_region}"
