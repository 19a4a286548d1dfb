"""``save_pretrained`` / ``from_pretrained`` / ``push_to_hub`` for the :class:`Classifier`,
in the manner of Hugging Face's ``ModelHubMixin``.

A model directory is the Hub's unit as well: ``config.json`` (with ``id2label``,
``label2id`` and ``problem_type``, but no ``model_type``: it is a salesnlp model, not a
transformers one), ``model.safetensors``, ``ngram.json``, ``MANIFEST.json`` and a model
card ``README.md`` with YAML metadata. ``huggingface_hub`` is imported only to talk to a
hub, so loading a local model does not pay for it.
"""

from __future__ import annotations

from pathlib import Path


class PretrainedMixin:
    """Adds Hub-style persistence to a class with ``load(path, precision, ...)``, a
    ``config``, ``thresholds``, ``ngram`` and ``tensors``."""

    @classmethod
    def from_pretrained(cls, path_or_repo: str | Path, *, precision: str = "auto",
                        revision: str | None = None, token: str | None = None,
                        unsupported_language: str = "score"):
        """Load a model directory, or a Hugging Face Hub repository (``"owner/name"``,
        downloaded with ``huggingface_hub``; needs network access).

        Raises:
            ModelLoadError: the directory is missing, incomplete or corrupt.
        """
        path = Path(path_or_repo).expanduser()
        if not path.is_dir() and _looks_like_repo_id(str(path_or_repo)):
            from huggingface_hub import snapshot_download

            from salesnlp.errors import ModelLoadError

            try:
                path = Path(snapshot_download(str(path_or_repo), revision=revision,
                                              token=token))
            except Exception as exc:  # noqa: BLE001 - offline, unknown repo, no access ...
                raise ModelLoadError(
                    f"{path_or_repo} is neither a model directory here nor a Hub repository "
                    f"that could be downloaded ({type(exc).__name__}: {exc})",
                    hint="check the path, or the repository id and your network access"
                ) from None
        return cls.load(path, precision, unsupported_language=unsupported_language)

    def save_pretrained(self, path: str | Path) -> Path:
        """Write this classifier (its current thresholds and calibration included) as a
        model directory: ``config.json``, ``model.safetensors``, ``ngram.json``,
        ``MANIFEST.json`` and a model card. Written atomically; returns the path."""
        from salesnlp.cache import atomic_directory
        from salesnlp.inference.model_card import write_model_card
        from salesnlp.inference.model_dir import save_model_dir

        if not self.tensors:
            raise ValueError("this classifier was not loaded from a model directory, so it "
                             "has no weights to save")
        path = Path(path)
        self.config.thresholds = dict(self.thresholds)
        tensors = {k: v for k, v in self.tensors.items() if not k.startswith("ngram.")}
        facts = None
        if self.ngram is not None and self.ngram_weight > 0:  # its state as it is now
            facts, arrays = self.ngram.to_state()
            tensors.update(arrays)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_directory(path) as staging:
            save_model_dir(staging, self.config, tensors, facts)
            write_model_card(staging, self.config, name=path.name)
        return path

    def push_to_hub(self, repo_id: str, *, token: str | None = None, private: bool = False,
                    commit_message: str = "Upload salesnlp model") -> str:
        """Upload this classifier to the Hugging Face Hub (needs ``huggingface_hub`` and
        network access); returns the commit URL."""
        import tempfile

        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            folder = self.save_pretrained(Path(tmp) / "model")
            return str(api.upload_folder(repo_id=repo_id, folder_path=str(folder),
                                         commit_message=commit_message))



def _looks_like_repo_id(name: str) -> bool:
    import re

    return bool(re.fullmatch(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*", name))
