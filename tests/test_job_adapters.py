"""``local/<base>+<job id>`` finds the adapter through the job's record (the location the job wrote),
not through this machine's ``artifacts.url``: a project with another artifacts URL (or none) that
shares the database fetches it into its own cache. No record, or a recorded location that is gone,
is an error naming the job and the location. No model is loaded; no Ray."""

from __future__ import annotations

import pytest

from promptops.config import load_config
from promptops.errors import ModelError
from promptops.localmodels import artifacts, job_record
from promptops.localmodels.resolve import resolve_adapter, with_adapter_path
from promptops.store import open_store


def _project(root, lines):
    (root / "prompts").mkdir(parents=True)
    (root / "promptops.yaml").write_text("\n".join(["default_model: local/smollm2", *lines]) + "\n")
    return load_config(root)


@pytest.fixture()
def trained(tmp_path):
    """A job trained in project ``a`` whose adapter went to ``<tmp>/shared-a/adapters/<job>``; the
    trainer's own folder is gone (another machine)."""
    shared_a = tmp_path / "shared-a"
    a = _project(tmp_path / "a", ["artifacts:", f"  url: {shared_a.as_uri()}"])
    store = open_store(a)
    job = store.create_job(prompt="greet", base_model="local/smollm2", dataset="d", status="succeeded")
    adapter = tmp_path / "trained-adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"r": 4}')
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    url = artifacts.upload_dir(adapter, artifacts.adapter_url(a, job.id))
    store.update_job(job.id, adapter_path=str(tmp_path / "a" / ".promptops" / "adapters" / job.id),
                     metrics={"artifact_url": url, "model": f"local/smollm2+{job.id}"})
    return a, job.id, url


@pytest.mark.parametrize("artifacts_lines", [["artifacts:", "  url: {other}"], []], ids=["other-url", "no-url"])
def test_the_adapter_comes_from_the_recorded_location_whatever_this_configs_url(trained, tmp_path, artifacts_lines):
    a, job_id, url = trained
    other = tmp_path / "shared-b"
    b = _project(tmp_path / "b", [f"database_url: {a.db_url()}",
                                  *[ln.format(other=other.as_uri()) for ln in artifacts_lines]])
    cached = b.state_path / "cache" / "adapters" / job_id
    assert with_adapter_path(f"local/smollm2+{job_id}", b.adapter_dirs, b) == f"local/smollm2+{cached}"
    assert (cached / "adapter_model.safetensors").read_bytes() == b"weights"
    assert not (other / "adapters" / job_id).exists()  # this config's URL was not where it looked
    # cached: the shared copy is not needed again
    import shutil

    shutil.rmtree(url.removeprefix("file://"))
    assert with_adapter_path(f"local/smollm2+{job_id}", b.adapter_dirs, b) == f"local/smollm2+{cached}"


def test_a_job_without_a_record_names_the_job_and_the_database(trained, tmp_path, monkeypatch):
    a, _, _ = trained
    b = _project(tmp_path / "b", [f"database_url: {a.db_url()}"])
    with pytest.raises(ModelError, match=r"no fine-tune job 'ft-nope' in the database sqlite:///.*promptops.db"):
        job_record.from_record(b, "ft-nope")
    # with the config, the name goes on to the handler unchanged; its look-up (no config) says the same
    assert with_adapter_path("local/smollm2+ft-nope", b.adapter_dirs, b) == "local/smollm2+ft-nope"
    monkeypatch.setenv("PROMPTOPS_ROOT", str(tmp_path / "b"))
    with pytest.raises(ModelError, match=r"no fine-tune job 'ft-nope' in the database sqlite:///.*a/.promptops"):
        resolve_adapter("ft-nope")
    c = _project(tmp_path / "c", [])  # a project whose database does not exist yet: not created by the look-up
    with pytest.raises(ModelError, match="no fine-tune job 'ft-nope'"):
        job_record.from_record(c, "ft-nope")
    assert not (c.state_path / "promptops.db").exists()


def test_a_recorded_location_that_is_gone_names_the_job_and_the_location(trained, tmp_path, monkeypatch):
    import shutil

    a, job_id, url = trained
    shutil.rmtree(url.removeprefix("file://"))
    b = _project(tmp_path / "b", [f"database_url: {a.db_url()}"])
    with pytest.raises(ModelError, match=rf"adapter of job {job_id}: its recorded location {url} is gone") as err:
        with_adapter_path(f"local/smollm2+{job_id}", b.adapter_dirs, b)
    assert "promptops.db" in err.value.one_line()
    monkeypatch.setenv("PROMPTOPS_ROOT", str(tmp_path / "b"))  # the handler's path (no config passed) says the same
    with pytest.raises(ModelError, match="is gone"):
        resolve_adapter(job_id)


def test_a_record_with_only_the_trainers_folder(trained, tmp_path):
    a, job_id, _ = trained
    store = open_store(a)
    store.update_job(job_id, metrics={})  # trained without artifacts.url
    b = _project(tmp_path / "b", [f"database_url: {a.db_url()}"])
    with pytest.raises(ModelError, match=r"the record puts it at .*adapters/.*, which this machine does not have"):
        with_adapter_path(f"local/smollm2+{job_id}", b.adapter_dirs, b)
    folder = tmp_path / "a" / ".promptops" / "adapters" / job_id  # the same machine: the trainer's folder is used
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    assert with_adapter_path(f"local/smollm2+{job_id}", b.adapter_dirs, b) == f"local/smollm2+{folder.resolve()}"


def test_without_the_store_the_locator_falls_back_to_this_configs_url(trained, tmp_path):
    a, job_id, _ = trained
    previous = job_record.set_locator(None)
    try:
        got = job_record.from_record(a, job_id)  # a's own URL is where the job wrote
        assert (got / "adapter_config.json").is_file()
        b = _project(tmp_path / "b", [])
        with pytest.raises(ModelError, match="not found"):
            job_record.from_record(b, job_id)
    finally:
        job_record.set_locator(previous)


def test_a_call_to_a_gone_adapter_is_a_failed_call_naming_the_job(trained, tmp_path):
    import asyncio

    from promptops.providers import complete
    from promptops.providers.errors import ProviderError

    import shutil

    a, job_id, url = trained
    shutil.rmtree(url.removeprefix("file://"))
    b = _project(tmp_path / "b", [f"database_url: {a.db_url()}"])
    with pytest.raises(ProviderError, match=rf"adapter of job {job_id}: its recorded location .* is gone") as err:
        asyncio.run(complete(f"local/smollm2+{job_id}", [{"role": "user", "content": "hi"}], {}, config=b))
    assert err.value.kind == "not_found" and not err.value.retryable
