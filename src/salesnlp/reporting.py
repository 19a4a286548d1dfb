"""Markdown tables of evaluation reports (used by reports, the CLI and model cards)."""

from __future__ import annotations

from collections.abc import Mapping

from salesnlp.labels import LABELS


def label_table(report: Mapping) -> str:
    """Per-label precision, recall, F1 and support, then the macro-F1 row."""
    rows = ["| label | precision | recall | F1 | support |", "| --- | --- | --- | --- | --- |"]
    for label in LABELS:
        m = report["per_label"][label]
        rows.append(f"| {label} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | "
                    f"{m['support']} |")
    rows.append(f"| **macro** | | | **{report['macro_f1']:.3f}** | {report['n']} notes |")
    return "\n".join(rows)


def breakdown_table(systems: Mapping[str, Mapping[str, float]], overall: Mapping[str, float],
                    header: str = "system") -> str:
    """One row per system: its macro-F1 per group (language, genre ...) and overall."""
    groups = list(next(iter(systems.values())))
    lines = [f"| {header} | " + " | ".join(groups) + " | all |",
             "|" + " --- |" * (len(groups) + 2)]
    for name, values in systems.items():
        cells = " | ".join(f"{values[g]:.3f}" if g in values else "–" for g in groups)
        lines.append(f"| {name} | {cells} | {overall[name]:.3f} |")
    return "\n".join(lines)
