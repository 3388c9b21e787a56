"""Job artifacts (checkpoints, finished adapters) in shared storage: ``artifacts.url`` in promptops.yaml.

The URL is a folder (relative to the project root) or any fsspec URL (``file://``, ``s3://``,
``gs://``, ``memory://`` in one process...). A job's adapter lives at ``<url>/adapters/<job id>`` and
its checkpoint at ``<url>/checkpoints/<job id>``; a machine that needs the adapter copies it once
into ``<state>/cache/adapters/<job id>``. fsspec is imported only here, inside the functions; a URL
whose filesystem package is missing (s3fs for ``s3://``, say) is an :class:`ArtifactsError` that
names the package.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import PromptopsError

__all__ = ["ArtifactsError", "adapter_url", "checkpoint_url", "fetch_adapter", "fetch_dir", "upload_dir"]


class ArtifactsError(PromptopsError):
    """The artifacts URL cannot be used (unknown protocol, missing filesystem package, unreachable)."""


def base_url(config: Config) -> str | None:
    """``artifacts.url`` with a plain relative folder made absolute (under the project root)."""
    url = config.artifacts.url
    if not url:
        return None
    if "://" not in url:
        path = Path(url).expanduser()
        return str(path if path.is_absolute() else (config.root / path).resolve())
    return url.rstrip("/")


def adapter_url(config: Config, job_id: str) -> str | None:
    base = base_url(config)
    return f"{base}/adapters/{job_id}" if base else None


def checkpoint_url(config: Config, job_id: str) -> str | None:
    base = base_url(config)
    return f"{base}/checkpoints/{job_id}" if base else None


def _fs(url: str) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError:
        raise ArtifactsError("artifacts.url needs the fsspec package", hint="pip install fsspec") from None
    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as exc:  # fsspec: "Install s3fs to access S3"
        raise ArtifactsError(f"artifacts.url {url}: the filesystem package is missing ({exc})",
                             where="promptops.yaml artifacts.url",
                             hint=_install_hint(url)) from None
    except ValueError as exc:  # "Protocol not known: foo"
        raise ArtifactsError(f"artifacts.url {url}: {exc}", where="promptops.yaml artifacts.url",
                             hint="use a folder or an fsspec URL (file://, s3://, gs://, ...)") from None


def _install_hint(url: str) -> str:
    packages = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs",
                "hf": "huggingface_hub", "sftp": "paramiko", "ssh": "paramiko"}
    proto = url.split("://", 1)[0]
    return f"pip install {packages.get(proto, proto + ' filesystem package for fsspec')}"


def upload_dir(local: Path, url: str) -> str:
    """Copy the files of folder ``local`` (recursively) to ``url``, replacing what was there; returns ``url``."""
    fs, root = _fs(url)
    try:
        if fs.exists(root):
            fs.rm(root, recursive=True)
        fs.makedirs(root, exist_ok=True)
        for path in sorted(Path(local).rglob("*")):
            if path.is_file():
                rel = path.relative_to(local).as_posix()
                parent = f"{root}/{rel}".rsplit("/", 1)[0]
                fs.makedirs(parent, exist_ok=True)
                fs.put_file(str(path), f"{root}/{rel}")
    except OSError as exc:
        raise ArtifactsError(f"could not write {url}: {exc}", where="promptops.yaml artifacts.url") from None
    return url


def fetch_dir(url: str, target: Path) -> Path | None:
    """Copy ``url`` (a folder) into ``target`` (replaced atomically); None when ``url`` does not exist."""
    fs, root = _fs(url)
    try:
        if not fs.exists(root):
            return None
        tmp = target.with_name(target.name + ".part")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for name in fs.find(root):
            rel = name[len(root.rstrip("/")) + 1:] if name.startswith(root.rstrip("/")) else name.rsplit("/", 1)[-1]
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(name, str(dest))
    except OSError as exc:
        raise ArtifactsError(f"could not read {url}: {exc}", where="promptops.yaml artifacts.url") from None
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(target)
    return target


def cache_dir(config: Config) -> Path:
    return config.state_path / "cache" / "adapters"


def fetch_adapter(config: Config, job_id: str) -> Path | None:
    """The local folder of job ``job_id``'s adapter from ``artifacts.url`` (cached); None when absent."""
    cached = cache_dir(config) / job_id
    if (cached / "adapter_config.json").is_file():
        return cached
    url = adapter_url(config, job_id)
    return fetch_dir(url, cached) if url else None
