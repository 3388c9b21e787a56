import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("PROMPTOPS_RETRY_BACKOFF", "0.01")

# fake_openai, git_project, store (SQLite, and PostgreSQL when configured), cli (in-process CLI)
pytest_plugins = ["promptops.testing.pytest_plugin"]
