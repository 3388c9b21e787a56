"""YAML for files a user (or a pull request) wrote: safe types, no aliases, bounded nesting.

PyYAML's SafeLoader still expands aliases, so 500 bytes of nested ``&a [*a, *a, ...]`` grow
into gigabytes once a caller walks the result (a prompt's ``tags:`` did, in a probe). No file
promptops reads needs an alias, so they are refused with the line they are on; and a document
nested so deep that the composer recurses past Python's limit is a YAML error too, not a crash.
A key written twice in one mapping is refused as well (PyYAML keeps the last one silently)."""

from __future__ import annotations

from typing import Any

import yaml

MAX_DEPTH = 100


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):  # noqa: ANN001 - PyYAML's signature
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "YAML aliases (*name) are not allowed here",
                                              event.start_mark)
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep",
                                                  self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


    def compose_mapping_node(self, anchor):  # noqa: ANN001 - PyYAML's signature
        node = super().compose_mapping_node(anchor)
        seen: set[str] = set()
        for key, _ in node.value:  # PyYAML keeps the last of two equal keys, silently
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise yaml.composer.ComposerError(None, None, f"duplicate key '{key.value}'", key.start_mark)
                seen.add(key.value)
        return node


    def construct_yaml_int(self, node):  # noqa: ANN001 - PyYAML's signature
        # Python refuses to parse integers of more than 4,300 digits with a bare ValueError
        if len(str(node.value)) > 1000:
            raise yaml.constructor.ConstructorError(None, None, "a number of more than 1,000 digits",
                                                    node.start_mark)
        return super().construct_yaml_int(node)


_NoAliasLoader.add_constructor("tag:yaml.org,2002:int", _NoAliasLoader.construct_yaml_int)


def compose(text: str) -> yaml.Node | None:
    """The document's node tree (for line numbers), aliases refused."""
    return yaml.compose(text, Loader=_NoAliasLoader)


def load(text: str) -> Any:
    """The document as Python data (safe types), aliases refused."""
    return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
