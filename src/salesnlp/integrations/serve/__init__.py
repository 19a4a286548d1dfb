"""The HTTP service for CRM plugins (``salesnlp serve``); see :mod:`.app`.

Needs the ``serve`` extra: ``pip install "salesnlp[serve]"`` (FastAPI, uvicorn,
prometheus-client).
"""
