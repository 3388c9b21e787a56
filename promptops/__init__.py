"""promptops: prompts as versioned files in git, scored, reviewed, promoted, served, fine-tuned."""

__version__ = "0.1.0"

__all__ = ["__version__", "Client"]


def __getattr__(name: str):
    # Lazy: importing promptops must stay cheap (the CLI's start-up time depends on it).
    if name == "Client":
        from .client import Client

        return Client
    raise AttributeError(name)
