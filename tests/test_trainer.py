"""LoRA trainer: loss mask, frozen base, loadable adapter, resume, early stopping, folds, config.

Fast tests use a tiny random Llama built from a config and a character-level tokenizer built here
(loading the SmolLM2 tokenizer from its GGUF takes ~15 s). The real embedded model is `slow`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from promptops.errors import ConfigError
from promptops.finetune import TrainConfig

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from peft import PeftModel  # noqa: E402

from promptops.finetune import modeling, trainer  # noqa: E402
from promptops.finetune.data import encode_example, read_chat_jsonl  # noqa: E402
from promptops.finetune.callbacks import TrainerCallback  # noqa: E402

CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are helpful<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def char_tokenizer():
    """One token per character plus the ChatML specials: builds in milliseconds, offline."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<|im_start|>", "<|im_end|>"]
    vocab = {t: i for i, t in enumerate(specials + [chr(i) for i in range(32, 127)] + ["\n"])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("[\\s\\S]"), behavior="isolated")  # one token per char
    core.decoder = decoders.Fuse()
    t = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", eos_token="<|im_end|>",
                                additional_special_tokens=["<|im_start|>", "<|im_end|>"])
    t.chat_template = CHAT_TEMPLATE
    return t


@pytest.fixture(scope="module")
def tok():
    return char_tokenizer()


@pytest.fixture(autouse=True)
def one_thread():
    # tiny matrices: a second thread only adds spin-waiting, badly so on a busy machine
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tiny_model(tok, seed=0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, initializer_range=0.2)
    return LlamaForCausalLM(cfg).eval()


WORDS = {"apple": "fruit", "pear": "fruit", "plum": "fruit", "kiwi": "fruit", "carrot": "veg", "leek": "veg",
         "kale": "veg", "bean": "veg", "oak": "tree", "elm": "tree", "ash": "tree", "fir": "tree"}


def ex(text, label, system="Label it."):
    return {"messages": [{"role": "system", "content": system}, {"role": "user", "content": text},
                         {"role": "assistant", "content": label}]}


DATA = [ex(w, lab) for w, lab in WORDS.items()]


def cfg(**kw):
    base = dict(epochs=2, batch_size=4, lora_r=4, lora_alpha=8, learning_rate=5e-3, max_new_tokens=6,
                checkpoint_every=None, eval_batch_size=8)
    return TrainConfig.from_dict({**base, **kw})


# -- config -------------------------------------------------------------------------------------
def test_config_unknown_key_is_a_clear_error():
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_dict({"epochs": 1, "lora_rank": 8}, where="ft.yaml")
    msg = str(e.value)
    assert "unknown fine-tune setting 'lora_rank'" in msg and "ft.yaml" in msg and "lora_r" in msg


def test_config_round_trip_help_and_checks():
    c = TrainConfig.from_dict({"learning_rate": "1e-3", "target_modules": "q_proj,v_proj", "eval_every": "5"})
    assert c.learning_rate == 1e-3 and c.target_modules == ["q_proj", "v_proj"] and c.eval_every == 5
    assert TrainConfig.from_dict(c.to_dict()) == c
    assert all(TrainConfig.help().values()) and set(TrainConfig.help()) == set(c.to_dict())
    with pytest.raises(ConfigError, match="lr_scheduler"):
        TrainConfig(lr_scheduler="step")
    with pytest.raises(ConfigError, match="eval_every"):
        TrainConfig(eval_every="often")


@pytest.mark.parametrize("module", ["promptops.finetune", "promptops.finetune.trainer"])
def test_package_import_is_light(module):
    code = f"import sys, {module}; print(any(m in sys.modules for m in ('torch', 'peft', 'transformers')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_classification_scores_per_sorted_target_label():
    s = trainer.classification_scores([("b", "b"), ("a", "a"), ("a", "b"), ("c", "zz"), ("b", "a")])
    assert s["accuracy"] == pytest.approx(2 / 5) and s["n"] == 5 and list(s["per_label"]) == ["a", "b", "c"]
    assert s["per_label"]["b"] == {"precision": 0.5, "recall": 0.5, "support": 2, "predicted": 2}
    assert s["per_label"]["c"] == {"precision": 0.0, "recall": 0.0, "support": 1, "predicted": 0}
    assert trainer.classification_scores([(str(i), str(i)) for i in range(3)], max_labels=2)["per_label"] == {}
    assert trainer.classification_scores([])["accuracy"] is None


def test_bad_jsonl_names_file_and_line(tmp_path):
    p = tmp_path / "train.jsonl"
    p.write_text(json.dumps(DATA[0]) + "\n" + json.dumps({"messages": [{"role": "user", "content": "x"}]}) + "\n")
    with pytest.raises(ConfigError, match=r"train.jsonl:2"):
        read_chat_jsonl(p)


# -- data -----------------------------------------------------------------------------------------
def test_loss_mask_covers_only_the_final_assistant_turn(tok):
    msgs = [{"role": "system", "content": "Label it."},
            {"role": "user", "content": "apple"}, {"role": "assistant", "content": "fruit"},  # few-shot turn
            {"role": "user", "content": "oak"}, {"role": "assistant", "content": "tree"}]
    enc = encode_example(tok, msgs, max_length=256)
    ids, labels = enc["input_ids"], enc["labels"]
    assert len(ids) == len(labels)
    learned = [i for i, lab in zip(ids, labels) if lab != -100]
    assert tok.decode(learned) == "tree<|im_end|>"
    first = labels.index(next(lab for lab in labels if lab != -100))
    assert all(lab == -100 for lab in labels[:first])  # system, user, few-shot answer: masked
    assert tok.decode(ids[:first]) == tok.apply_chat_template(msgs[:-1], tokenize=False, add_generation_prompt=True)
    # a long prompt loses its start, never the answer
    short = encode_example(tok, msgs, max_length=20)
    assert len(short["input_ids"]) == 20 and short["truncated"]
    assert tok.decode([i for i, lab in zip(short["input_ids"], short["labels"]) if lab != -100]) == "tree<|im_end|>"


# -- training ---------------------------------------------------------------------------------------
def test_lora_changes_only_adapter_weights_and_saves_a_loadable_adapter(tok, tmp_path):
    model = tiny_model(tok)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    seen = []
    res = trainer.train(cfg(max_steps=3), DATA[:8], DATA[8:], tmp_path, model=model, tokenizer=tok,
                        on_progress=seen.append)
    assert res.status == "succeeded" and res.steps == 3
    after = res.model.state_dict()
    lora = [k for k in after if "lora_" in k]
    assert lora and all("lora_" in n for n, p in res.model.named_parameters() if p.requires_grad)
    for name, old in before.items():  # base weights (peft prefixes their names) are untouched
        match = [k for k in after if k.endswith(name.replace(".weight", ".base_layer.weight"))
                 or k == f"base_model.model.{name}"]
        assert match, name
        assert torch.equal(after[match[0]], old), name
    assert any(after[k].abs().sum() > 0 for k in lora if "lora_B" in k)  # B starts at zero
    for f in ("adapter_model.safetensors", "adapter_config.json", "training_config.json", "metrics.json"):
        assert (tmp_path / f).is_file(), f
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert [x["step"] for x in m["losses"]] == [1, 2, 3] and m["evals"] and m["val_accuracy"] is not None
    assert set(m["per_label"]) == {"tree"} and m["peak_rss_mb"] > 0 and m["examples_per_s"] > 0
    assert {"step", "total_steps", "epoch", "loss", "val_loss", "eta_s", "examples_per_s"} <= set(seen[0])
    assert json.loads((tmp_path / "training_config.json").read_text())["lora_r"] == 4

    loaded = PeftModel.from_pretrained(tiny_model(tok), str(tmp_path)).eval()
    x = torch.tensor([tok("<|im_start|>user\napple<|im_end|>\n", add_special_tokens=False)["input_ids"]])
    res.model.eval()
    with torch.no_grad():
        assert torch.allclose(loaded(input_ids=x).logits, res.model(input_ids=x).logits, atol=1e-6)


def test_resume_continues_from_the_saved_step_and_matches_an_uninterrupted_run(tok, tmp_path):
    c = cfg(epochs=2, batch_size=2, checkpoint_every=1, eval_generate=False)  # 4 steps/epoch, 8 in all
    full = trainer.train(c, DATA[:8], DATA[8:], tmp_path / "a", model=tiny_model(tok), tokenizer=tok)
    assert full.steps == 8

    steps = []
    cut = trainer.train(c, DATA[:8], DATA[8:], tmp_path / "b", model=tiny_model(tok), tokenizer=tok,
                        on_progress=lambda d: d["phase"] == "train" and steps.append(d["step"]), should_stop=lambda: len(steps) >= 5)
    assert cut.status == "cancelled" and cut.steps == 5  # stopped mid-epoch 2
    assert json.loads((tmp_path / "b/checkpoint/trainer_state.json").read_text())["step"] == 5
    assert not (tmp_path / "b/adapter_model.safetensors").exists()

    resumed_steps = []
    res = trainer.train(c, DATA[:8], DATA[8:], tmp_path / "b", model=tiny_model(tok), tokenizer=tok,
                        on_progress=lambda d: d.get("phase") == "train" and resumed_steps.append(d["step"]))
    assert res.resumed_from_step == 5 and resumed_steps == [6, 7, 8] and res.status == "succeeded"
    a, b = full.model.state_dict(), res.model.state_dict()
    for k in a:
        if "lora_" in k:
            assert torch.allclose(a[k], b[k], atol=1e-6), k
    assert [e["val_loss"] for e in res.metrics["evals"]] == pytest.approx([e["val_loss"] for e in full.metrics["evals"]])

    with pytest.raises(ConfigError, match="another config"):
        trainer.train(cfg(epochs=2, batch_size=2, checkpoint_every=1, eval_generate=False, learning_rate=1e-2),
                      DATA[:8], DATA[8:], tmp_path / "b", model=tiny_model(tok), tokenizer=tok)


def test_callbacks_see_every_step_and_evaluation_in_order(tok, tmp_path):
    class Log(TrainerCallback):
        def __init__(self):
            self.seen = []

        def on_step(self, t):
            self.seen.append(("step", t.state.step))

        def on_evaluate(self, t, improved):
            self.seen.append(("eval", t.state.step, improved))

        def on_step_end(self, t, epoch_end):
            self.seen.append(("end", t.state.step, epoch_end))

        def on_phase(self, t, phase, extra):
            self.seen.append((phase,))

    log = Log()
    t = trainer.LoraTrainer(cfg(epochs=1, batch_size=4, eval_every=2, eval_generate=False), DATA[:8], DATA[8:],
                            tmp_path, model=tiny_model(tok), tokenizer=tok, callbacks=[log])
    res = t.fit()
    assert res.steps == 2 and t.state.step == 2 and not (tmp_path / "checkpoint").exists()  # no Checkpointer
    assert log.seen == [("step", 1), ("end", 1, False), ("step", 2), ("eval", 2, True), ("end", 2, True), ("done",)]


def test_early_stopping_keeps_the_best_adapter(tok, tmp_path):
    # validation contradicts training: memorising the training labels makes validation loss turn up
    train = [ex(w, lab) for w, lab in WORDS.items()]
    val = [ex(w, {"fruit": "tree", "veg": "fruit", "tree": "veg"}[lab]) for w, lab in list(WORDS.items())[:6]]
    c = cfg(epochs=10, batch_size=4, learning_rate=3e-2, lora_r=8, early_stopping_patience=2,
            eval_generate=False, warmup_ratio=0.0)
    res = trainer.train(c, train, val, tmp_path, model=tiny_model(tok), tokenizer=tok)
    losses = [e["val_loss"] for e in res.metrics["evals"]]
    assert res.stopped_early and len(losses) < 10
    assert min(losses) < losses[0]  # it first improved, then turned up
    best = min(range(len(losses)), key=losses.__getitem__)
    assert losses[best] == res.best_val_loss and len(losses) - 1 - best == 2  # two worse evals, then stop
    assert res.best_epoch == res.metrics["evals"][best]["epoch"]

    loaded = PeftModel.from_pretrained(tiny_model(tok), str(tmp_path))
    enc = [encode_example(tok, e["messages"], 256) for e in val]
    assert modeling.evaluate_loss(loaded, enc, tok.pad_token_id) == pytest.approx(res.best_val_loss, rel=1e-5)


def test_three_folds_give_three_scores_and_their_spread(tok, tmp_path):
    model = tiny_model(tok)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    res = trainer.train_folds(cfg(epochs=1, folds=3, max_new_tokens=4), DATA, out_dir=tmp_path, model=model,
                              tokenizer=tok)
    assert res.metric == "accuracy" and len(res.scores) == 3 and len(res.folds) == 3
    assert all(0 <= s <= 1 for s in res.scores) and res.std >= 0
    assert res.mean == pytest.approx(sum(res.scores) / 3)
    assert sorted(len(f.metrics["val_predictions"]) for f in res.folds) == [4, 4, 4]
    assert json.loads((tmp_path / "folds.json").read_text())["scores"] == res.scores
    assert all((tmp_path / f"fold-{i}" / "adapter_model.safetensors").is_file() for i in (1, 2, 3))
    assert {k: v for k, v in model.state_dict().items()}.keys() == before.keys()  # base restored, no LoRA left


# -- the real embedded model ------------------------------------------------------------------------
@pytest.mark.slow
def test_smoke_on_the_embedded_model(tmp_path):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from promptops.localmodels import smollm2_gguf
        smollm2_gguf()
    except Exception as exc:  # pragma: no cover
        pytest.skip(f"embedded model not installed: {exc}")
    data = [ex(f"I want {w}", lab, system="Answer fruit, veg or tree.") for w, lab in WORDS.items()]
    c = TrainConfig.from_dict({"max_steps": 2, "batch_size": 4, "lora_r": 8, "max_new_tokens": 4})
    res = trainer.train(c, data[:8], data[8:], tmp_path)
    assert res.status == "succeeded" and res.steps == 2 and res.val_accuracy is not None
    enc = encode_example(res.tokenizer, data[0]["messages"], 256)  # the real template and tokenizer
    assert res.tokenizer.decode([i for i, lab in zip(enc["input_ids"], enc["labels"]) if lab != -100]) \
        == "fruit<|im_end|>"
    base, tok2 = trainer.load_base("local/smollm2")
    loaded = PeftModel.from_pretrained(base, str(tmp_path)).eval()
    x = torch.tensor([tok2("<|im_start|>user\nkale<|im_end|>\n", add_special_tokens=False)["input_ids"]])
    res.model.eval()
    with torch.no_grad():
        assert torch.allclose(loaded(input_ids=x).logits, res.model(input_ids=x).logits, atol=1e-5)
    assert json.loads((tmp_path / "adapter_config.json").read_text())["base_model_name_or_path"] == "local/smollm2"
