"""Evaluation: metrics, reports, baselines and leave-one-language-out."""
