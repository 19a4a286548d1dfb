"""The layering of the package: serving code never reaches into training or export."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "salesnlp"
SERVING = ("inference", "prepare", "langid", "encoder/tokenization.py", "results.py",
           "labels.py", "errors.py", "api.py", "cache.py", "progress.py")
# The one place where loading triggers the named build step of export/ (a lazy import in a
# function that runs only when the int8 files are missing or damaged).
ALLOWED = {("inference/int8.py", "salesnlp.export.int8")}


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
    return found


def serving_modules() -> list[Path]:
    out = []
    for part in SERVING:
        path = PACKAGE / part
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return out


def test_serving_code_imports_nothing_from_training_or_export():
    offending = []
    for path in serving_modules():
        relative = path.relative_to(PACKAGE).as_posix()
        for module in imports_of(path):
            if module.startswith(("salesnlp.training", "salesnlp.export",
                                  "salesnlp.evaluation", "salesnlp.integrations")) \
                    and (relative, module) not in ALLOWED:
                offending.append(f"{relative} imports {module}")
    assert offending == []


def test_training_is_not_imported_by_loading_and_classifying_with_built_files(tiny_model):
    code = (f"import salesnlp, sys; clf = salesnlp.load({str(tiny_model)!r}, precision='int8');"
            "clf.classify_many(['Ei öelnud, kes hanke võitis. Kolm kirja, vastust pole.']);"
            "print(sorted(m for m in sys.modules if m.startswith(('salesnlp.training', "
            "'salesnlp.export', 'salesnlp.evaluation', 'torch', 'peft', 'sklearn'))))")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)  # builds
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_the_package_exports_the_public_api_only():
    import salesnlp

    assert set(salesnlp.__all__) == {
        "LABELS", "SalesNLPError", "__version__", "detect_language", "detect_languages",
        "LanguageGuess", "LanguageSpan", "LanguageDetector", "SUPPORTED_LANGUAGES", "classify",
        "classify_many", "load", "Classifier", "Classification", "Evidence", "train",
        "TrainingConfig", "evaluate", "build_base", "load_corpus", "classify_frame",
        "validate_corpus", "shipped_model_names"}
    for name in salesnlp.__all__:
        assert getattr(salesnlp, name) is not None


def test_no_function_body_is_longer_than_sixty_lines():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body[1:] if ast.get_docstring(node) else node.body
                lines = body[-1].end_lineno - body[0].lineno + 1
                if lines > 60:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} {lines}")
    assert long == []
