"""A stand-in for the Pulumi engine, for provider tests through the real plugin protocol.

`ProviderProcess` starts the dynamic provider plugin the SDK ships (`python -m pulumi.dynamic`,
a gRPC ResourceProvider) and calls it as the engine does: Configure with the stack config, then
Check / Diff / Create / Read / Update / Delete with `__provider` serialised as
`pulumi.dynamic.Resource` serialises it. `Engine` steps resources through a deployment
(create, update, replace, refresh, destroy) the way `pulumi up` decides between them, keeping
the state (id, inputs, outputs) a stack would keep; given a `config`, an Engine shares one plugin
process with other tests (each stack still gets its own configured provider). `ForwardingMocks` runs a Pulumi program under
`pulumi.runtime.set_mocks` with every dynamic resource forwarded to such an engine.
"""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import grpc
from google.protobuf import struct_pb2
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.output import Unknown
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

TREE = Path(__file__).resolve().parents[2]
PROVIDER_KEY = "__provider"


class ProviderCallFailed(Exception):
    """A provider RPC failed; `details` is what the Pulumi CLI would print to the user."""

    def __init__(self, method: str, details: str):
        super().__init__(f"{method}: {details}")
        self.method = method
        self.details = details

    @property
    def last_line(self) -> str:
        lines = [line for line in self.details.strip().splitlines() if line.strip()]
        return lines[-1] if lines else ""


class CheckFailed(Exception):
    def __init__(self, failures: list[tuple[str, str]]):
        super().__init__("; ".join(f"{p}: {r}" for p, r in failures))
        self.failures = failures


def to_struct(props: dict) -> struct_pb2.Struct:
    def encode(value: Any) -> Any:
        if isinstance(value, Unknown):
            return rpc.UNKNOWN
        if isinstance(value, dict):
            return {k: encode(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [encode(v) for v in value]
        return value

    struct = struct_pb2.Struct()
    struct.update(encode(props))
    return struct


def from_struct(struct: struct_pb2.Struct) -> dict:
    def unwrap(value: Any) -> Any:
        value = rpc.unwrap_rpc_secret(value)
        if isinstance(value, dict):
            return {k: unwrap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [unwrap(v) for v in value]
        return value

    return unwrap(rpc.deserialize_properties(struct, keep_unknowns=True))


def provider_blob(provider) -> str:
    """`__provider` exactly as `pulumi.dynamic.Resource` writes it (dill, base64)."""
    return serialize_provider(provider)


@dataclass
class Diff:
    changes: bool
    replaces: list[str]
    delete_before_replace: bool


class ProviderProcess:
    """One `python -m pulumi.dynamic` plugin process and a gRPC stub talking to it."""

    def __init__(self, config: Optional[dict] = None, pythonpath: tuple = (), env: Optional[dict] = None):
        self.config = dict(config or {})
        paths = [str(TREE / "provider"), *map(str, pythonpath)]
        if os.environ.get("PYTHONPATH"):
            paths.append(os.environ["PYTHONPATH"])
        self._env = {**os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join(paths)}
        self._proc: Optional[subprocess.Popen] = None
        self._channel = None
        self.stub = None

    def __enter__(self) -> "ProviderProcess":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "pulumi.dynamic"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self._env,
        )
        line = self._proc.stdout.readline().decode().strip()
        if not line.isdigit():
            self._proc.kill()
            raise RuntimeError(f"provider plugin did not start: {self._proc.stderr.read().decode()}")
        self._channel = grpc.insecure_channel(f"127.0.0.1:{line}")
        grpc.channel_ready_future(self._channel).result(timeout=30)
        self.stub = provider_pb2_grpc.ResourceProviderStub(self._channel)
        self.configure(self.config)

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc.stdout.close()
            self._proc.stderr.close()

    def _call(self, method: str, request):
        try:
            return getattr(self.stub, method)(request)
        except grpc.RpcError as exc:
            raise ProviderCallFailed(method, exc.details() or str(exc)) from None

    # -- the engine's calls ------------------------------------------------------------------
    def configure(self, config: dict) -> None:
        # The engine hands dynamic providers the whole stack config, fully qualified keys.
        request = provider_pb2.ConfigureRequest(
            args=to_struct(config), acceptSecrets=True, acceptResources=True
        )
        self._call("Configure", request)

    def check(self, urn: str, olds: dict, news: dict) -> tuple[dict, list[tuple[str, str]]]:
        response = self._call(
            "Check", provider_pb2.CheckRequest(urn=urn, olds=to_struct(olds), news=to_struct(news))
        )
        return from_struct(response.inputs), [(f.property, f.reason) for f in response.failures]

    def diff(self, id_: str, urn: str, olds: dict, news: dict, old_inputs: Optional[dict] = None) -> Diff:
        response = self._call(
            "Diff",
            provider_pb2.DiffRequest(
                id=id_, urn=urn, olds=to_struct(olds), news=to_struct(news),
                old_inputs=to_struct(old_inputs or {}),
            ),
        )
        return Diff(
            changes=response.changes == provider_pb2.DiffResponse.DIFF_SOME,
            replaces=list(response.replaces),
            delete_before_replace=response.deleteBeforeReplace,
        )

    def create(self, urn: str, props: dict) -> tuple[str, dict]:
        response = self._call("Create", provider_pb2.CreateRequest(urn=urn, properties=to_struct(props)))
        return response.id, from_struct(response.properties)

    def read(self, id_: str, urn: str, props: dict, inputs: Optional[dict] = None) -> tuple[str, dict]:
        response = self._call(
            "Read",
            provider_pb2.ReadRequest(
                id=id_, urn=urn, properties=to_struct(props), inputs=to_struct(inputs or {})
            ),
        )
        return response.id, from_struct(response.properties)

    def update(self, id_: str, urn: str, olds: dict, news: dict, old_inputs: Optional[dict] = None) -> dict:
        response = self._call(
            "Update",
            provider_pb2.UpdateRequest(
                id=id_, urn=urn, olds=to_struct(olds), news=to_struct(news),
                old_inputs=to_struct(old_inputs or {}),
            ),
        )
        return from_struct(response.properties)

    def delete(self, id_: str, urn: str, props: dict, old_inputs: Optional[dict] = None) -> None:
        self._call(
            "Delete",
            provider_pb2.DeleteRequest(
                id=id_, urn=urn, properties=to_struct(props), old_inputs=to_struct(old_inputs or {})
            ),
        )


@dataclass
class State:
    id: str
    inputs: dict
    outputs: dict


@dataclass
class Step:
    op: str  # create | update | replace | same | delete
    id: Optional[str]
    outputs: dict
    diff: Optional[Diff] = None
    order: list[str] = field(default_factory=list)  # provider calls made, in order


class Engine:
    """Decides and performs each resource's step as `pulumi up` / `refresh` / `destroy` do."""

    def __init__(self, process: ProviderProcess, stack: str = "test", project: str = "keyplane",
                 config: Optional[dict] = None):
        self.process = process
        self.stack, self.project = stack, project
        self.state: dict[str, State] = {}
        self._tag = None
        if config is not None:
            # A plugin process shared by several tests (starting one costs seconds): Configure it
            # with this stack's config and make this stack's `__provider` distinct, so the plugin
            # deserialises and configures a fresh provider for it, as a new stack's plugin would.
            process.configure(config)
            self._tag = uuid.uuid4().hex

    def blob(self, provider) -> str:
        if isinstance(provider, str):
            return provider
        if self._tag is not None:
            provider.__dict__["_harness_stack"] = self._tag
        return provider_blob(provider)

    def urn(self, type_: str, name: str) -> str:
        return f"urn:pulumi:{self.stack}::{self.project}::{type_}::{name}"

    def up(self, provider, name: str, inputs: dict, type_: str = "pulumi-python:dynamic:Resource") -> Step:
        urn = self.urn(type_, name)
        news = {**inputs, PROVIDER_KEY: self.blob(provider)}
        old = self.state.get(urn)
        checked, failures = self.process.check(urn, old.inputs if old else {}, news)
        if failures:
            raise CheckFailed(failures)
        if old is None:
            id_, outs = self.process.create(urn, checked)
            self.state[urn] = State(id_, checked, outs)
            return Step("create", id_, outs, order=["create"])
        diff = self.process.diff(old.id, urn, old.outputs, checked, old.inputs)
        if not diff.changes:
            self.state[urn] = State(old.id, checked, old.outputs)
            return Step("same", old.id, old.outputs, diff)
        if not diff.replaces:
            outs = self.process.update(old.id, urn, old.outputs, checked, old.inputs)
            self.state[urn] = State(old.id, checked, outs)
            return Step("update", old.id, outs, diff, ["update"])
        if diff.delete_before_replace:
            self.process.delete(old.id, urn, old.outputs, old.inputs)
            del self.state[urn]
            id_, outs = self.process.create(urn, checked)
            order = ["delete", "create"]
        else:
            id_, outs = self.process.create(urn, checked)
            self.process.delete(old.id, urn, old.outputs, old.inputs)
            order = ["create", "delete"]
        self.state[urn] = State(id_, checked, outs)
        return Step("replace", id_, outs, diff, order)

    def preview(self, provider, name: str, inputs: dict, type_: str = "pulumi-python:dynamic:Resource"):
        """Check (and Diff, for an existing resource) only, as `pulumi preview` does."""
        urn = self.urn(type_, name)
        news = {**inputs, PROVIDER_KEY: self.blob(provider)}
        old = self.state.get(urn)
        checked, failures = self.process.check(urn, old.inputs if old else {}, news)
        diff = self.process.diff(old.id, urn, old.outputs, checked, old.inputs) if old and not failures else None
        return checked, failures, diff

    def refresh(self, name: str, type_: str = "pulumi-python:dynamic:Resource") -> Optional[dict]:
        urn = self.urn(type_, name)
        old = self.state[urn]
        id_, outs = self.process.read(old.id, urn, old.outputs, old.inputs)
        if not id_:
            del self.state[urn]
            return None
        self.state[urn] = State(id_, old.inputs, outs)
        return outs

    def destroy(self, name: str, type_: str = "pulumi-python:dynamic:Resource") -> None:
        urn = self.urn(type_, name)
        old = self.state.pop(urn)
        self.process.delete(old.id, urn, old.outputs, old.inputs)

    def outputs(self, name: str, type_: str = "pulumi-python:dynamic:Resource") -> dict:
        return self.state[self.urn(type_, name)].outputs


def observer(state: str, **kwargs):
    """A `keyplane.connect()` of the test process that sees at once what the provider process
    wrote to the same store (its engine would otherwise serve cached state for up to 0.5 s)."""
    import keyplane

    connection = keyplane.connect(state, **kwargs)
    connection.engine.cache.ttl = 0
    return connection


def _mocks_base():
    import pulumi

    return pulumi.runtime.Mocks


class ForwardingMocks(_mocks_base()):
    """Mocks for `pulumi.runtime.set_mocks` that send every dynamic resource of a program to a
    real provider process through `Engine` (Check then Create; Check only in a preview)."""

    def __init__(self, engine: Engine, preview: bool = False):
        self.engine = engine
        self.preview = preview
        self.created: dict[str, dict] = {}  # "Type/name" -> outputs
        self.read: dict[str, dict] = {}     # "Type/name" -> outputs of a `Resource.get`
        self.failures: dict[str, list] = {}

    def new_resource(self, args):
        inputs = {k: rpc.unwrap_rpc_secret(v) for k, v in args.inputs.items()}
        blob = inputs.pop(PROVIDER_KEY, None)
        if blob is None:
            return f"{args.name}-id", inputs
        label = f"{args.typ.rsplit(':', 1)[-1]}/{args.name}"
        if args.resource_id:  # `Resource.get`: the engine's Read of an existing resource
            id_, outs = self.engine.process.read(args.resource_id, self.engine.urn(args.typ, args.name),
                                                 {**inputs, PROVIDER_KEY: blob})
            if not id_:
                raise ProviderCallFailed("Read", f"{label}: no resource with id {args.resource_id}")
            outs = {k: v for k, v in outs.items() if k != PROVIDER_KEY}
            self.read[label] = outs
            return id_, outs
        if self.preview:
            checked, failures, _ = self.engine.preview(blob, args.name, inputs, args.typ)
            if failures:
                self.failures[label] = failures
                raise CheckFailed(failures)
            return "", {k: v for k, v in checked.items() if k != PROVIDER_KEY}
        step = self.engine.up(blob, args.name, inputs, args.typ)
        outs = {k: v for k, v in step.outputs.items() if k != PROVIDER_KEY}
        self.created[label] = outs
        return step.id, outs

    def call(self, args):
        return {}


@dataclass
class ProgramRun:
    mocks: ForwardingMocks
    exports: dict           # what the program `pulumi.export`ed, resolved (None where unknown)
    secret_outputs: dict    # "Type/name" -> the outputs the resource asked Pulumi to keep secret


def run_program(program: Path, engine: Engine, config: dict, *, project: str = "keyplane",
                stack: str = "dev", preview: bool = False, secret_keys: tuple = ()) -> ProgramRun:
    """Runs a Pulumi program as `pulumi up` (or `preview`) would, in this process: `config` is the
    stack config the program reads (`pulumi.Config`), every resource goes through `engine`'s real
    provider process, and `pulumi.export`s are collected and resolved."""
    import runpy

    import pulumi
    from pulumi.runtime.mocks import MockMonitor

    class RecordingMonitor(MockMonitor):
        def __init__(self, mocks):
            super().__init__(mocks)
            self.secret_outputs = {}

        def RegisterResource(self, request):
            label = f"{request.type.rsplit(':', 1)[-1]}/{request.name}"
            self.secret_outputs[label] = sorted(request.additionalSecretOutputs)
            return super().RegisterResource(request)

    mocks = ForwardingMocks(engine, preview=preview)
    monitor = RecordingMonitor(mocks)
    exported: dict = {}
    resolved: dict = {}
    saved_config, saved_export = pulumi.runtime.config.CONFIG.get(), pulumi.export
    pulumi.runtime.set_all_config(dict(config), list(secret_keys))
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview, monitor=monitor)
    pulumi.export = lambda name, value: exported.__setitem__(name, value)

    def body():
        runpy.run_path(str(program), run_name="__main__")
        if not exported:
            return None
        names = list(exported)
        return pulumi.Output.all(*(exported[n] for n in names)).apply(
            lambda values: resolved.update(zip(names, values)))

    try:
        pulumi.runtime.test(body)()
    finally:
        pulumi.export = saved_export
        pulumi.runtime.config.CONFIG.set(saved_config)
    return ProgramRun(mocks, resolved, monitor.secret_outputs)
