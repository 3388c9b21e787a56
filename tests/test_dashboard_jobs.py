"""The dashboard's fine-tune job pages: list, and one job with its loss curve as SVG."""

from fastapi.testclient import TestClient

from promptops.config import load_config
from promptops.server.app import create_app
from promptops.store import open_store


def test_job_pages_show_status_and_loss_curve(tmp_path):
    (tmp_path / "prompts").mkdir()
    config = load_config(tmp_path)
    store = open_store(config)
    job = store.create_job(prompt="snips-intent", base_model="local/smollm2", dataset="datasets/finetune/x",
                           config={"lora_r": 16}, status="succeeded",
                           progress={"step": 4, "total_steps": 4, "loss": 0.5},
                           metrics={"model": "local/smollm2+abc", "losses": [2.0, 1.2, 0.8, 0.5],
                                    "evals": [{"step": 2, "val_loss": 1.1}, {"step": 4, "val_loss": 0.7}],
                                    "val_accuracy": 0.9})
    client = TestClient(create_app(config, store=store))
    listing = client.get("/jobs")
    assert listing.status_code == 200 and job.id in listing.text and "succeeded" in listing.text
    detail = client.get(f"/jobs/{job.id}")
    assert detail.status_code == 200
    assert '<svg id="loss-curve"' in detail.text and 'class="train"' in detail.text
    assert detail.text.count('class="val"') == 2 and 'data-loss="0.7000"' in detail.text
    assert "val_accuracy" in detail.text and "local/smollm2+abc" in detail.text
    assert client.get("/jobs/ft-nosuch").status_code == 404
