"""The structure that keeps the gate in one place: every step found by name has its method, and
no code but the transition table changes a stage, a status or a verification."""

from __future__ import annotations

import ast
from pathlib import Path

from gateway.pipeline.dialogue import Step
from gateway.pipeline.steps import Steps
from gateway.pipeline.transitions import TABLE, Event

ROOT = Path(__file__).resolve().parents[2]
GUARDED = {"stage", "status", "verification"}


def test_every_step_has_its_method_and_every_method_its_step() -> None:
    methods = {name.removeprefix("_step_") for name in dir(Steps) if name.startswith("_step_")}
    assert methods == {step.value for step in Step}


def test_every_event_has_its_rule() -> None:
    assert set(TABLE) == set(Event)


def test_only_the_transition_table_assigns_a_stage_status_or_verification() -> None:
    offenders = []
    for package in ("gateway", "chat", "mail", "policies"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name == "transitions.py":
                continue
            tree = ast.parse(path.read_text("utf-8"))
            for node in ast.walk(tree):
                targets = []
                if isinstance(node, ast.Assign):
                    targets = node.targets
                elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                    targets = [node.target]
                for target in targets:
                    for part in ast.walk(target):
                        if isinstance(part, ast.Attribute) and part.attr in GUARDED:
                            offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders
