"""The typed resources (keyplane/resources/typed.py) are what the generator makes of the schemas
today; they name every input, refuse a typo naming the closest input, and hand a program whole
numbers as int (the wire carries doubles) — run through the real provider process."""
from __future__ import annotations

import inspect
import json

import pulumi
import pytest

import keyplane
from harness import TREE, Engine, ForwardingMocks, ProviderProcess
from keyplane.resources import codegen, typed


def test_the_checked_in_typed_module_matches_the_schemas():
    assert (TREE / "provider" / "keyplane" / "resources" / "typed.py").read_text() == codegen.source(), (
        "schemas or resources changed: run `python -m keyplane.resources.codegen` (from provider/)")


@pytest.mark.parametrize("name", sorted(keyplane.RESOURCES))
def test_every_schema_input_is_a_typed_keyword_argument(name):
    cls = getattr(keyplane, name)
    assert cls is getattr(typed, name)
    schema = json.loads(next((TREE / "schemas" / "resources").glob(
        f"{cls._provider_class.resource}.schema.json")).read_text())
    params = inspect.signature(cls.__init__).parameters
    for prop in schema["properties"]:
        assert params[prop].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[prop].annotation.startswith("Optional[pulumi.Input[")
    assert set(getattr(keyplane, f"{name}Args").__annotations__) == set(schema["properties"])


def test_a_misspelt_argument_names_the_closest_input():
    with pytest.raises(TypeError) as failed:
        keyplane.Key("k", deletion_window_in_day=7)
    assert str(failed.value) == "keyplane.Key: unknown argument 'deletion_window_in_day'; did you mean " \
                                "'deletion_window_in_days'?"
    with pytest.raises(TypeError) as failed:
        keyplane.Alias("a", {"nam": "alias/x", "target_key_id": "k"})
    assert str(failed.value) == "keyplane.Alias: unknown argument 'nam'; did you mean 'name'?"


def test_whole_numbers_reach_the_program_as_int(tmp_path):
    state = str(tmp_path / "state")
    seen = {}
    with ProviderProcess({"keyplane:state": state, "keyplane:region": "us-east-1"}) as process:
        mocks = ForwardingMocks(Engine(process))
        pulumi.runtime.set_mocks(mocks, project="typed", stack="dev", preview=False)

        def program():
            key = keyplane.Key("k", keyplane.KeyArgs(description="typed"), deletion_window_in_days=7,
                               enable_key_rotation=True, rotation_period_in_days=90)
            param = keyplane.Parameter("p", name="/typed/n", type="String", value="v")
            return pulumi.Output.all(key.deletion_window_in_days, key.rotation_period_in_days, param.version,
                                     key.description).apply(lambda v: seen.update(zip(("window", "period", "version",
                                                                                      "description"), v)))

        pulumi.runtime.test(program)()
    assert seen == {"window": 7, "period": 90, "version": 1, "description": "typed"}
    assert all(type(seen[k]) is int for k in ("window", "period", "version"))
