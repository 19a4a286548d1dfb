"""Cohen's kappa per label and language between the first labels (corpus drafts, before
adjudication) and the blind second annotation. Run from the repo root:

    python corpus/agreement/kappa.py corpus/agreement/first_labels.jsonl      # corpus v1
    python corpus/agreement/kappa.py corpus/agreement/v2/first_labels.jsonl   # corpus v2

The second annotations are read from the folder of the first-labels file.
"""

import json
import sys
from pathlib import Path

from sklearn.metrics import cohen_kappa_score

from salesnlp.labels import LABELS

HERE = Path(sys.argv[1]).parent
first = {json.loads(line)["id"]: json.loads(line)["labels"] for line in open(sys.argv[1])}
table, disagreements = {}, []
for lang in ("et", "fi", "uk", "ro", "nl"):
    second = [json.loads(line) for line in open(HERE / f"{lang}.second.jsonl")]
    row = {"n": len(second)}
    for label in LABELS:
        a = [label in first[s["id"]] for s in second]
        b = [label in s["labels"] for s in second]
        row[label] = round(float(cohen_kappa_score(a, b)), 3)
    row["exact_set_agreement"] = round(
        sum(set(first[s["id"]]) == set(s["labels"]) for s in second) / len(second), 3)
    table[lang] = row
    disagreements += [{"id": s["id"], "first": first[s["id"]], "second": s["labels"]}
                      for s in second if set(first[s["id"]]) != set(s["labels"])]
print(json.dumps(table, indent=1))
(HERE / "kappa.json").write_text(json.dumps(table, indent=1))
(HERE / "disagreements.jsonl").write_text(
    "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in disagreements))
print(len(disagreements), "disagreements")
