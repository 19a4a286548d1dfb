"""pandas integration: :func:`classify_frame`.

pandas is an optional dependency (``pip install 'salesnlp[notebook]'``); it is
imported only when :func:`classify_frame` is called.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from salesnlp.progress import counter
from salesnlp.results import ROW_COLUMNS as OUTPUT_COLUMNS

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from salesnlp.inference.classifier import Classifier

DEFAULT_CHUNK_SIZE = 1024


def classify_frame(
    df: pd.DataFrame,
    column: str = "note",
    batch_size: int = 32,
    progress: bool = False,
    model: Classifier | str | Path | None = None,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> pd.DataFrame:
    """Classify the notes in one column of a DataFrame.

    The input frame is not changed: a copy is returned with the columns of
    ``salesnlp classify`` added (``OUTPUT_COLUMNS``): ``language``, ``supported`` (bool:
    one of the five languages), ``labels`` (a list
    of label ids), ``score_<label>`` for each label (float 0..1) and ``evidence`` (a
    list of ``{"label", "text", "start", "end", "score"}`` dicts, spans into the note).
    An existing column of one of those names is replaced (with a warning).

    Missing cells (``None``, ``NaN``, ``pd.NA``) and empty strings give a neutral row:
    language ``"und"``, no labels, every score 0.0 and no evidence.

    Args:
        df: the notes.
        column: the column holding the note text.
        batch_size: notes per forward pass.
        progress: show a progress bar (tqdm; a widget in notebooks).
        model: a :class:`~salesnlp.Classifier`, a model directory, or ``None`` for the
            shipped model (``$SALESNLP_MODEL`` if set).
        chunk_size: rows classified at a time (bounds the memory of intermediate results).

    Returns:
        A new DataFrame with the same index and rows, plus the added columns.

    Raises:
        TypeError: ``df`` is not a DataFrame, or a cell is neither text nor missing.
        KeyError: ``column`` is not a column of ``df``.

    Example:
        >>> import pandas as pd, salesnlp                      # doctest: +SKIP
        >>> df = pd.DataFrame({"note": ["Ei öelnud, kes hanke võitis."]})  # doctest: +SKIP
        >>> salesnlp.classify_frame(df)[["labels", "score_partner_concealment"]]  # doctest: +SKIP
    """
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("classify_frame needs pandas: pip install 'salesnlp[notebook]'"
                          ) from exc
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"classify_frame takes a pandas DataFrame, not {type(df).__name__}"
                        + ("; use df.to_frame() for a Series" if isinstance(df, pd.Series)
                           else ""))
    if column not in df.columns:
        raise KeyError(f"no column {column!r} in the DataFrame; its columns are "
                       f"{list(df.columns)} (pass column=...)")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    classifier = _classifier(model)
    texts = _texts(df[column])
    replaced = [c for c in OUTPUT_COLUMNS if c in df.columns and c != column]
    if replaced:
        warnings.warn(f"classify_frame replaces the existing column(s) {replaced}",
                      stacklevel=2)

    values: dict[str, list[Any]] = {c: [] for c in OUTPUT_COLUMNS}
    bar = counter(len(texts), progress)
    try:
        for start in range(0, len(texts), chunk_size):
            chunk = texts[start : start + chunk_size]
            for result in classifier.classify_many(chunk, batch_size=batch_size):
                for key, value in result.to_row().items():
                    values[key].append(value)
            bar.update(len(chunk))
    finally:
        bar.close()
    out = df.copy()
    for name in OUTPUT_COLUMNS:
        if name.startswith("score_"):
            out[name] = pd.Series(values[name], index=df.index, dtype="float64")
        elif name == "supported":
            out[name] = pd.Series(values[name], index=df.index, dtype="bool")
        else:
            out[name] = pd.Series(values[name], index=df.index, dtype="object")
    return out


def _classifier(model: Any) -> Classifier:
    from salesnlp.inference.classifier import Classifier

    if model is None:
        from salesnlp.api import default_classifier

        return default_classifier()
    if isinstance(model, Classifier):
        return model
    if isinstance(model, (str, Path)):
        return Classifier.load(model)
    raise TypeError(f"model must be a Classifier, a model directory or None, "
                    f"not {type(model).__name__}")


def _texts(series: Any) -> list[str]:
    """The cells as ``str``; missing cells become ``""`` (a neutral result)."""
    import pandas as pd

    texts: list[str] = []
    for index, value in series.items():
        if isinstance(value, str):
            texts.append(value)
        elif value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
            texts.append("")
        else:
            raise TypeError(
                f"row {index!r} of column {series.name!r} is {type(value).__name__}, not text; "
                f"convert the column first, e.g. df[{series.name!r}].astype('string')")
    return texts
