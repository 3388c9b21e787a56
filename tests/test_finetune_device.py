"""The trainer's device pick, precision and GPU check on a machine without a GPU (the CPU path)."""

from __future__ import annotations

import math
import warnings

import pytest

from promptops.errors import ConfigError
from promptops.finetune import TrainConfig, jobs
from promptops.finetune.shared_artifacts import check_gpus

torch = pytest.importorskip("torch")
from promptops.finetune import device  # noqa: E402

needs_no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")


@needs_no_gpu
def test_auto_is_the_cpu_in_float32_and_a_missing_device_is_refused():
    mps = getattr(torch.backends, "mps", None)
    if mps and mps.is_available():
        pytest.skip("this machine has MPS")
    assert device.pick_device("auto") == "cpu"
    assert device.pick_dtype("cpu", "auto") is torch.float32
    assert isinstance(device.autocast("cpu", torch.float32), type(__import__("contextlib").nullcontext()))
    with pytest.raises(ConfigError, match="no cuda device"):
        device.pick_device("cuda")


@needs_no_gpu
def test_a_job_asking_for_gpus_this_machine_lacks_is_refused():
    check_gpus(None)
    check_gpus({"gpus": 0})
    with pytest.raises(jobs.JobError, match="asks for 2 GPU"):
        check_gpus({"gpus": 2})


def test_the_new_settings_are_validated_and_do_not_change_the_run_fingerprint():
    assert TrainConfig.from_dict({"device": "cpu", "precision": "bf16", "gradient_checkpointing": "true"})
    with pytest.raises(ConfigError, match="device"):
        TrainConfig.from_dict({"device": "tpu"})
    from promptops.finetune.state import fingerprint

    rows = [{"input_ids": [1, 2], "labels": [-100, 2]}]
    assert fingerprint(TrainConfig(), rows, rows) == fingerprint(TrainConfig(device="cpu", precision="fp32",
                                                                            gradient_checkpointing=True), rows, rows)


def test_gradient_checkpointing_trains_to_the_same_losses(tmp_path):
    """The option only recomputes activations: the tiny trainer's losses match a run without it."""
    pytest.importorskip("peft")
    from promptops.finetune import trainer
    from tests.test_trainer import DATA, cfg, char_tokenizer, tiny_model

    tok = char_tokenizer()
    runs = []
    warnings.simplefilter("error", FutureWarning)  # no deprecated transformers call on the way
    for on in (False, True):
        res = trainer.train(cfg(max_steps=2, eval_generate=False, gradient_checkpointing=on), DATA[:8], DATA[8:],
                            tmp_path / str(on), model=tiny_model(tok), tokenizer=tok)
        assert res.status == "succeeded"
        runs.append([x["loss"] for x in res.metrics["losses"]])
    assert runs[0] == pytest.approx(runs[1], rel=1e-4)


def test_fp16_trains_with_loss_scaling(tmp_path):
    """precision=fp16 computes under float16 autocast with a GradScaler (float16 gradients underflow
    without one); the losses stay finite and close to the float32 run's."""
    pytest.importorskip("peft")
    from promptops.finetune import trainer
    from tests.test_trainer import DATA, cfg, char_tokenizer, tiny_model

    tok = char_tokenizer()
    losses, scalers = [], []
    for precision in ("fp32", "fp16"):
        t = trainer.LoraTrainer(cfg(max_steps=2, eval_generate=False, precision=precision), DATA[:8], DATA[8:],
                                tmp_path / precision, model=tiny_model(tok), tokenizer=tok)
        scalers.append(t.scaler)
        res = t.fit()
        assert res.status == "succeeded"
        losses.append([x["loss"] for x in res.metrics["losses"]])
    assert scalers[0] is None and scalers[1] is not None and scalers[1].is_enabled()
    assert all(math.isfinite(x) for x in losses[1])
    assert losses[1][0] == pytest.approx(losses[0][0], rel=2e-2)  # the same first batch, float16 compute
