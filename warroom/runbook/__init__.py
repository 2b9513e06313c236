"""The runbook language: its models (``model``), the loader with file-and-line errors (``loading``), and
what a runbook resolves to for an alert (``resolve``)."""

from warroom.runbook.loading import (
    Catalogue,
    LoadedRunbook,
    Problem,
    RunbookInvalid,
    catalogue_of,
    load_catalogue,
    load_runbook,
    parse_runbook,
    runbook_files,
)
from warroom.runbook.model import (
    ApprovalPolicy,
    Approver,
    Diagnostic,
    Matcher,
    Mitigation,
    ParamSpec,
    ParamType,
    Runbook,
    StepCall,
)
from warroom.runbook.resolve import (
    alert_params,
    dedup_key_for,
    lookup_alert_path,
    resolve_params,
    severity_of,
)

__all__ = [
    "ApprovalPolicy",
    "Approver",
    "Catalogue",
    "Diagnostic",
    "LoadedRunbook",
    "Matcher",
    "Mitigation",
    "ParamSpec",
    "ParamType",
    "Problem",
    "Runbook",
    "RunbookInvalid",
    "StepCall",
    "alert_params",
    "catalogue_of",
    "dedup_key_for",
    "load_catalogue",
    "load_runbook",
    "lookup_alert_path",
    "parse_runbook",
    "resolve_params",
    "runbook_files",
    "severity_of",
]
