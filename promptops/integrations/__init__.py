"""Adapters that report calls an application makes with other libraries to the promptops server.

- :mod:`.litellm`: ``PromptopsLogger``, a litellm callback that logs every ``litellm.completion``
  whose metadata names a prompt (``metadata={"promptops": {"prompt": NAME, "variables": {...}}}``).

Each adapter imports its library itself: importing this package imports none of them.
"""
