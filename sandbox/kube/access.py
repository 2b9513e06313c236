"""Who may do what: bearer tokens' identities and their per-verb rules, as RBAC grants them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Rule:
    verbs: set[str]
    resources: set[str]

    def allows(self, verb: str, resource: str) -> bool:
        return ("*" in self.verbs or verb in self.verbs) and (
            "*" in self.resources or resource in self.resources
        )


@dataclass
class Identity:
    user: str
    rules: list[Rule]


READ_ONLY = [Rule({"get", "list", "watch"}, {"*"})]
