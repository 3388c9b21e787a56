"""Test helpers shipped with promptops: a fake OpenAI-compatible server on loopback."""

from .fake_openai import FakeOpenAI

__all__ = ["FakeOpenAI"]
