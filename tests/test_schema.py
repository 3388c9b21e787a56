"""The settings validator (promptops._util.schema): types, bounds, choices, unknown keys, string coercion."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from promptops._util import schema


@dataclass
class Inner:
    n: int | None = field(default=None, metadata={"ge": 1})
    rate: float = field(default=0.5, metadata={"ge": 0, "le": 1})


@dataclass
class Outer:
    name: str = field(default="x", metadata={"nonempty": True})
    mode: str = field(default="a", metadata={"choices": ("a", "b")})
    every: str | int = field(default="epoch", metadata={"choices": ("epoch",), "ge": 1})
    flag: bool = False
    tags: list[str] = field(default_factory=list)
    inner: Inner = field(default_factory=Inner)
    named: dict[str, Inner] = field(default_factory=dict)
    secret_place: str = "s"
    root: str = field(default=".", metadata={"internal": True})


@pytest.mark.parametrize("data, message", [
    ({"colour": 1}, "colour: unknown key (allowed: name, mode, every, flag, tags, inner, named, secret_place)"),
    ({"root": "/"}, "root: unknown key"),
    ({"inner": {"n": 0}}, "inner.n: must be >= 1, got 0"),
    ({"inner": {"rate": 1.5}}, "inner.rate: must be <= 1, got 1.5"),
    ({"named": {"a": {"n": "many"}}}, "named.a.n: must be an integer"),
    ({"named": {"a": {"x": 1}}}, "named.a.x: unknown key"),
    ({"named": {"a": 5}}, "named.a: must be a mapping"),
    ({"flag": "maybe"}, "flag: must be true or false"),
    ({"tags": "a"}, "tags: must be a list"),
    ({"mode": "c"}, "mode: must be one of 'a', 'b', got 'c'"),
    ({"every": "often"}, "every: must be 'epoch' or an integer, got 'often'"),
    ({"every": 0}, "every: must be >= 1, got 0"),
    ({"name": ""}, "name: must not be empty"),
])
def test_errors_name_the_key(data, message):
    with pytest.raises(schema.SchemaError) as e:
        schema.build(Outer, data)
    assert str(e.value).startswith(message) and isinstance(e.value, ValueError)


def test_a_wrong_typed_value_is_not_echoed():
    with pytest.raises(schema.SchemaError) as e:
        schema.build(Outer, {"secret_place": 12345})
    assert "12345" not in str(e.value) and e.value.value == 12345 and e.value.key == "secret_place"


def test_unknown_key_suggests_the_closest():
    with pytest.raises(schema.UnknownKeyError) as e:
        schema.build(Outer, {"nmae": "y"})
    assert e.value.suggestion == "name" and e.value.unknown == "nmae"


def test_values_are_converted_and_strings_coerced_only_when_asked():
    o = schema.build(Outer, {"inner": {"rate": 1}, "every": 3, "named": {"a": None}})
    assert o.inner.rate == 1.0 and isinstance(o.inner.rate, float) and o.every == 3 and o.named["a"] == Inner()
    with pytest.raises(schema.SchemaError, match="must be an integer"):
        schema.build(Inner, {"n": "3"})
    c = schema.build(Outer, {"flag": "yes", "tags": "a, b,,c", "every": "5", "inner": {"n": "none", "rate": "0.25"}},
                     coerce=True)
    assert (c.flag, c.tags, c.every, c.inner.n, c.inner.rate) == (True, ["a", "b", "c"], 5, None, 0.25)
    assert schema.build(Outer, {"every": "epoch"}, coerce=True).every == "epoch"
    with pytest.raises(schema.SchemaError, match=r"inner.n: must be an integer, got '3.5'"):
        schema.build(Outer, {"inner": {"n": "3.5"}}, coerce=True)


def test_check_validates_an_existing_instance():
    schema.check(Outer())
    with pytest.raises(schema.SchemaError, match="inner.rate: must be >= 0"):
        schema.check(Outer(inner=Inner(rate=-1)))
    with pytest.raises(schema.SchemaError, match=r"tags\[1\]: must be a string"):
        schema.check(Outer(tags=["a", 2]))
