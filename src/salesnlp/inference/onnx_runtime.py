"""Running an exported encoder with ONNX Runtime (no PyTorch needed)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

INPUT_EMBEDS = "embeds"
INPUT_MASK = "mask"
OUTPUT_STATES = "states"


def cpu_threads() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def spinning() -> bool:
    """Whether ONNX Runtime's idle threads spin (``SALESNLP_ORT_SPINNING``, default 1).

    Spinning threads take the next run sooner: one ~40-token note in 8.3 instead of
    11.2 ms, batches of 32 at 203 instead of 180 notes/s (default model, 2 cores), for
    about 10 % more CPU per note. Where several threads or processes share the cores,
    sleeping threads leave the cores to them: four threads calling ``classify`` at once
    get 165 notes/s sleeping, 143 spinning (``benchmarks/spinning``). Spark's workers
    sleep unless this is set. ``0``, ``false``, ``no`` and ``off`` turn spinning off.
    """
    setting = os.environ.get("SALESNLP_ORT_SPINNING", "1").strip().lower()
    return setting not in ("", "0", "false", "no", "off")


def session(path: Path | bytes, threads: int | None = None):
    """An ONNX Runtime CPU session of a graph file (or its bytes);
    ``InferenceSession.run`` is safe from many threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or cpu_threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning",
                                     "1" if spinning() else "0")
    # Memory patterns make ORT keep the buffers of the largest batch seen for the life of
    # the session (+180 MB after one batch of 32 notes, measured); without them, and with
    # runs capped at MAX_TOKENS_PER_RUN tokens (fastpath), the arena stays small (peak
    # 407 MB over 128 notes and a 1,000-word note) and large notes keep its speed
    # (1.1 s vs 1.6 s without the arena for 1,000 words, loaded CPU).
    options.enable_mem_pattern = False
    options.log_severity_level = 3
    source = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def run_states(sess, embeds: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return sess.run([OUTPUT_STATES], {INPUT_EMBEDS: embeds, INPUT_MASK: mask})[0]
