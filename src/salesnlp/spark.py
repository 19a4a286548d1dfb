"""``salesnlp.spark.classify_frame(sdf, column="note")``: classify a Spark DataFrame.

See :mod:`salesnlp.integrations.spark`; needs ``pip install "salesnlp[spark]"``.
"""

from salesnlp.integrations.spark import classify_frame, distribute_model, output_schema

__all__ = ["classify_frame", "distribute_model", "output_schema"]
