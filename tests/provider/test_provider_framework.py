"""The provider framework (`keyplane.resources.base`) through the real plugin protocol, with a
tiny file-backed resource (`toy_resource.Note`), so the framework's contract is pinned apart
from the key engine: checks, diffs, replacement order, drift, idempotent delete, rollback of a
failed create, one-line errors, and a `__provider` that carries no configuration."""
from __future__ import annotations

import base64
import json

import pytest
from pulumi.output import Unknown

from harness import CheckFailed, Engine, ProviderCallFailed, ProviderProcess, provider_blob
from toy_resource import HERE, NoteProvider

SECRET = "kp-secret-key-do-not-store"


def note_config(root):
    return {"keyplane:state": str(root), "keyplane:region": "eu-west-1",
            "keyplane:accessKey": "AKIAEXAMPLE", "keyplane:secretKey": SECRET}


@pytest.fixture(scope="module")
def plugin():
    with ProviderProcess(pythonpath=[HERE]) as process:
        yield process


@pytest.fixture
def notes(tmp_path, plugin):
    yield Engine(plugin, config=note_config(tmp_path)), tmp_path


def note_file(root, name, region="eu-west-1"):
    return root / region / f"{name}.json"


def test_check_failure_names_property_and_json_path(notes):
    engine, _ = notes
    with pytest.raises(CheckFailed) as failed:
        engine.up(NoteProvider(), "n", {"name": "a", "policy": {"Statement": [{"Effect": "Alow"}]}})
    assert failed.value.failures == [
        ("policy", "policy.Statement[0].Effect: 'Alow' is not one of ['Allow', 'Deny']")
    ]


def test_check_policy_given_as_json_text_is_validated_too(notes):
    engine, _ = notes
    _, failures, _ = engine.preview(NoteProvider(), "n", {"name": "a", "policy": '{"Statement": [{}]}'})
    assert failures == [("policy", "policy.Statement[0].Effect: 'Effect' is a required property")]
    _, failures, _ = engine.preview(NoteProvider(), "n", {"name": "a", "policy": "{not json"})
    assert len(failures) == 1 and failures[0][0] == "policy" and "not valid JSON" in failures[0][1]


def test_check_names_a_missing_and_a_misspelt_property(notes):
    engine, root = notes
    _, failures, _ = engine.preview(NoteProvider(), "n", {"txt": "hello", "size_limit": 500})
    assert ("name", "name: 'name' is a required property") in failures
    assert any(p == "txt" and "unknown property 'txt'" in r for p, r in failures)
    assert ("size_limit", "size_limit: 500 is greater than the maximum of 100") in failures
    assert not (root / "eu-west-1").exists()


def test_check_accepts_values_unknown_during_preview(notes):
    engine, _ = notes
    inputs, failures, _ = engine.preview(
        NoteProvider(), "n",
        {"name": Unknown(), "text": Unknown(), "policy": {"Statement": [{"Effect": Unknown()}]}},
    )
    assert failures == []
    assert isinstance(inputs["name"], Unknown) and isinstance(inputs["text"], Unknown)
    assert isinstance(inputs["policy"]["Statement"][0]["Effect"], Unknown)


def test_check_fills_schema_defaults_and_the_configured_region(notes):
    engine, _ = notes
    inputs, failures, _ = engine.preview(NoteProvider(), "n", {"name": "a"})
    assert failures == []
    assert inputs["text"] == "" and inputs["tags"] == {} and inputs["region"] == "eu-west-1"


def test_life_cycle_create_update_replace_drift_delete(notes):
    engine, root = notes
    step = engine.up(NoteProvider(), "n", {"name": "first", "text": "hi", "size_limit": 5})
    assert step.op == "create" and step.id == "first"
    assert step.outputs["length"] == 2 and step.outputs["size_limit"] == 5
    assert json.loads(note_file(root, "first").read_text())["text"] == "hi"

    assert engine.up(NoteProvider(), "n", {"name": "first", "text": "hi", "size_limit": 5}).op == "same"

    step = engine.up(NoteProvider(), "n", {"name": "first", "text": "hello", "tags": {"a": "b"}})
    assert step.op == "update" and step.id == "first"
    assert step.outputs["length"] == 5 and step.outputs["tags"] == {"a": "b"}  # full outputs

    step = engine.up(NoteProvider(), "n", {"name": "second", "text": "hello"})
    assert step.op == "replace" and step.diff.replaces == ["name"]
    assert step.order == ["delete", "create"]  # delete_before_replace: names stay unique
    assert not note_file(root, "first").exists() and note_file(root, "second").exists()

    note_file(root, "second").write_text(json.dumps({"text": "changed outside", "tags": {}}))
    outs = engine.refresh("n")
    assert outs["text"] == "changed outside" and outs["length"] == 15
    step = engine.up(NoteProvider(), "n", {"name": "second", "text": "hello"})
    assert step.op == "update"  # drift is put right on the next up
    assert json.loads(note_file(root, "second").read_text())["text"] == "hello"

    note_file(root, "second").unlink()
    assert engine.refresh("n") is None  # a gone resource reads as gone


def test_region_change_replaces_create_before_delete_when_not_flagged(notes):
    engine, root = notes
    engine.up(NoteProvider(), "n", {"name": "a"})
    step = engine.up(NoteProvider(), "n", {"name": "a", "region": "us-west-2"})
    assert step.op == "replace" and step.diff.replaces == ["region"]
    assert note_file(root, "a", "us-west-2").exists() and not note_file(root, "a").exists()


def test_delete_of_a_resource_already_gone_succeeds(notes):
    engine, root = notes
    engine.up(NoteProvider(), "n", {"name": "a"})
    note_file(root, "a").unlink()
    engine.destroy("n")
    assert engine.state == {}


def test_failed_create_leaves_nothing_behind_and_says_one_line(notes):
    engine, root = notes
    with pytest.raises(ProviderCallFailed) as failed:
        engine.up(NoteProvider(), "n", {"name": "a", "fail_with": "too many tags"})
    # what `pulumi up` prints: that one line, no traceback
    assert failed.value.details.strip() == "keyplane.resources.base.ProviderError: LimitExceededException: too many tags"
    assert not note_file(root, "a").exists()
    assert engine.up(NoteProvider(), "n", {"name": "a", "text": "x"}).op == "create"  # a retry works
    with pytest.raises(ProviderCallFailed) as failed:
        engine.up(NoteProvider(), "m", {"name": "a"})
    assert failed.value.last_line.endswith("AlreadyExistsException: Note a already exists")
    assert json.loads(note_file(root, "a").read_text())["text"] == "x"  # the failure changed nothing


def test_documents_compare_as_json_not_as_text(notes):
    engine, _ = notes
    engine.up(NoteProvider(), "n", {"name": "a", "policy": {"Statement": [{"Effect": "Allow"}]}})
    _, _, diff = engine.preview(NoteProvider(), "n", {"name": "a", "policy": '{"Statement":[{"Effect":"Allow"}]}'})
    assert diff.changes is False
    _, _, diff = engine.preview(NoteProvider(), "n", {"name": "a", "policy": {"Statement": [{"Effect": "Deny"}]}})
    assert diff.changes is True and diff.replaces == []


def test_unknown_replacement_key_in_preview_is_a_possible_replacement(notes):
    engine, _ = notes
    engine.up(NoteProvider(), "n", {"name": "a"})
    _, failures, diff = engine.preview(NoteProvider(), "n", {"name": Unknown()})
    assert failures == [] and diff.changes and diff.replaces == ["name"] and diff.delete_before_replace


def test_pickled_provider_holds_no_configuration_or_credentials(tmp_path):
    from pulumi.dynamic import Config, ConfigureRequest

    provider = NoteProvider()
    provider.configure(ConfigureRequest(Config({"keyplane:secretKey": SECRET,
                                                "keyplane:state": str(tmp_path)}, "p")))
    assert provider.settings.secret_key == SECRET
    blob = base64.b64decode(provider_blob(provider))
    assert SECRET.encode() not in blob and str(tmp_path).encode() not in blob
    assert b"toy_resource" in blob and len(blob) < 2000  # the class travels by reference


def test_program_under_mocks_creates_through_the_provider_and_marks_secret_outputs(tmp_path):
    import pulumi
    from pulumi.runtime.mocks import MockMonitor

    from harness import ForwardingMocks

    root = tmp_path
    # its own plugin: the program pickles `__provider` itself, as the same blob for any stack
    process = ProviderProcess(note_config(root), pythonpath=[HERE])
    process.start()
    engine = Engine(process)

    class Recording(MockMonitor):
        secret_outputs = {}

        def RegisterResource(self, request):
            self.secret_outputs[request.name] = list(request.additionalSecretOutputs)
            return super().RegisterResource(request)

    mocks = ForwardingMocks(engine)
    monitor = Recording(mocks)
    pulumi.runtime.set_mocks(mocks, preview=False, monitor=monitor)

    @pulumi.runtime.test
    def program():
        from toy_resource import Note

        note = Note("greeting", name="greeting", text="hello")
        return note.length.apply(lambda n: n)

    try:
        program()
    finally:
        process.close()
    assert json.loads(note_file(root, "greeting").read_text())["text"] == "hello"
    assert mocks.created["Note/greeting"]["length"] == 5
    assert monitor.secret_outputs["greeting"] == ["token"]
