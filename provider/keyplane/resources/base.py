"""The dynamic-provider framework every keyplane Pulumi resource is built on.

It owns what all resources share, so that a resource is one schema file plus one module with a
few lines per CRUD verb:

- the provider configuration, read in `configure()` (never pickled: `__provider` is in state);
- AWS clients per service and region, built through `keyplane.connect(...)`;
- `check()`: inputs against `schemas/resources/<resource>.schema.json`, embedded documents
  (policies) against their own schemas, each problem a CheckFailure naming the property and the
  JSON path; values still unknown in a preview are never reported;
- `diff()`: update in place, or replacement for the resource's `replace_on` properties;
- create/read/update/delete plumbing: a failed create undoes what it did, update and create
  return the full outputs from a live read, read reports drift or a gone resource, delete of a
  gone resource succeeds, and every AWS error reaches the user as one line (code and message);
- the user-facing `Resource` class (`keyplane.Key(...)` etc.) with its computed and secret outputs.
"""
from __future__ import annotations

import difflib
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Optional

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)
from pulumi.runtime import rpc

from keyplane.resources.values import (  # noqa: F401 - resources reach them as base.<name>
    contains_unknown,
    is_unknown,
    json_path,
    live_document,
    parse_document,
    plain,
    policy_text,
    schema_failures,
    validator,
)

PROVIDER_KEY = "__provider"


class ProviderError(Exception):
    """A failure the user sees in `pulumi up`: one line, the AWS error code and message."""


class Refused(Exception):
    """An input `normalize` cannot make sense of: a CheckFailure on `prop` saying `reason`."""

    def __init__(self, prop: str, reason: str):
        super().__init__(reason)
        self.prop, self.reason = prop, reason


# ---- configuration ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    """The provider configuration (`keyplane:*` stack config), read in `configure()`."""

    endpoint: Optional[str] = None
    state: Optional[str] = None
    region: Optional[str] = None
    account: Optional[str] = None
    access_key: Optional[str] = None
    secret_key: Optional[str] = None
    account_role: Optional[str] = None

    KEYS: ClassVar[dict[str, str]] = {
        "endpoint": "keyplane:endpoint",
        "state": "keyplane:state",
        "region": "keyplane:region",
        "account": "keyplane:account",
        "access_key": "keyplane:accessKey",
        "secret_key": "keyplane:secretKey",
        "account_role": "keyplane:accountRole",
    }

    @classmethod
    def from_config(cls, config: Any) -> "Settings":
        """From a `pulumi.dynamic.Config` (or a plain dict keyed by the fully qualified names)."""
        get = config.get
        values = {}
        for field, key in cls.KEYS.items():
            value = rpc.unwrap_rpc_secret(get(key))
            values[field] = str(value) if value not in (None, "") else None
        return cls(**values)


# The role AWS Organizations makes in each member account for the management account: how a
# stack with one set of credentials manages resources it declares in another `account`.
DEFAULT_ACCOUNT_ROLE = "OrganizationAccountAccessRole"


def connect(settings: Settings, account: Optional[str] = None):
    """The keyplane connection every client of this provider process comes from: embedded on
    `keyplane:state` by default (as `account`'s root, default keyplane:account), remote (SigV4
    with the access key pair) with an endpoint. Remote, a resource in another account than the
    credentials' is managed through that account's `keyplane:accountRole` (AssumeRole), as
    pulumi-aws reaches member accounts with `assumeRole`."""
    # deferred: keeps module import free of side effects. The client module, not the keyplane
    # package: the package's lazy exports import the resources, which import this module.
    from keyplane import client

    given = {
        "endpoint": settings.endpoint,
        "region": settings.region,
        "account": account or settings.account,
        "access_key": settings.access_key,
        "secret_key": settings.secret_key,
    }
    if settings.endpoint:  # the account is the one of the access key, as in AWS
        given.pop("account")
    connection = client.connect(settings.state, **{k: v for k, v in given.items() if v is not None})
    if settings.endpoint and account:
        mine = connection.client("sts").get_caller_identity()["Account"]
        if mine != account:
            connection = _assume_account_role(client, connection, settings, account, mine)
    engine = getattr(connection, "engine", None)
    if engine is not None:
        # The engine caches state for up to half a second; a provider must see what others
        # changed a moment ago (drift on refresh), and is not where speed matters.
        engine.cache.ttl = 0
    return connection


def _assume_account_role(client, connection, settings: Settings, account: str, mine: str):
    role = f"arn:aws:iam::{account}:role/{settings.account_role or DEFAULT_ACCOUNT_ROLE}"
    try:
        creds = connection.client("sts").assume_role(
            RoleArn=role, RoleSessionName="keyplane-pulumi")["Credentials"]
    except Exception as exc:  # noqa: BLE001 - said in one line, with what to do about it
        raise ProviderError(
            f"account {account}: keyplane:accessKey belongs to account {mine}, and assuming {role} "
            f"failed ({one_line(exc)}); give account {account} that role, trusting {mine}, in "
            "identities.yaml, or name another with keyplane:accountRole") from None
    return client.connect(endpoint=settings.endpoint, region=connection.region,
                          access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"],
                          session_token=creds["SessionToken"])


def _in_plugin_server() -> bool:
    """Whether this process is the dynamic-provider plugin (`python -m pulumi.dynamic`)."""
    main = sys.modules.get("__main__")
    return getattr(getattr(main, "__spec__", None), "name", None) == "pulumi.dynamic.__main__"


# The plugin server runs calls on four threads (Pulumi creates resources in parallel), and a
# boto3 session must not build clients from several threads at once.
_CLIENTS_LOCK = threading.Lock()


class Api:
    """The clients one provider call uses, for one region; undo steps for a failing create."""

    def __init__(self, connection: Any, region: Optional[str]):
        self._connection = connection
        self.region = region
        self._clients: dict[tuple[str, Optional[str]], Any] = {}
        self._undo: list[Callable[[], Any]] = []

    def client(self, service: str, region: Optional[str] = None):
        region = region or self.region
        key = (service, region)
        if key not in self._clients:
            with _CLIENTS_LOCK:
                self._clients[key] = self._connection.client(service, region=region)
        return self._clients[key]

    @property
    def kms(self):
        return self.client("kms")

    @property
    def ssm(self):
        return self.client("ssm")

    @property
    def secretsmanager(self):
        return self.client("secretsmanager")

    def on_failure(self, undo: Callable[[], Any]) -> None:
        """Registers how to take back a step of a create, should a later step fail."""
        self._undo.append(undo)

    def rollback(self) -> None:
        while self._undo:
            step = self._undo.pop()
            try:
                step()
            except Exception:  # noqa: BLE001 - the original failure is what the user must see
                pass


def tag_changes(old: dict, new: dict) -> tuple[list, dict]:
    """What brings a resource's tags from `old` to `new` with the fewest calls: the keys to
    remove (sorted), then the tags to add or change (Key, Parameter, Secret alike)."""
    return sorted(set(old) - set(new)), {k: v for k, v in new.items() if old.get(k) != v}


def error_code(exc: BaseException) -> Optional[str]:
    """The AWS error code of a client error (botocore's or the engine's), else None."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return getattr(exc, "code", None) if hasattr(exc, "message") else None


def one_line(exc: BaseException) -> str:
    """What the user reads: `Code: message`, never a botocore preamble or a traceback."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        code = response["Error"].get("Code", "Error")
        message = response["Error"].get("Message") or response["Error"].get("message") or ""
        text = f"{code}: {message}" if message else code
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


# ---- the provider ----------------------------------------------------------------------------
class Provider(ResourceProvider):
    """Base of every keyplane dynamic provider. Subclasses set the class attributes and write
    `_create`, `_read`, `_update` and `_delete`; everything else is here."""

    resource: ClassVar[str]  # its inputs' schema: schemas/resources/<resource>.schema.json
    replace_on: ClassVar[frozenset[str]] = frozenset({"region", "account"})  # "*" = every input
    update_in_place: ClassVar[frozenset[str]] = frozenset()  # exempt from replace_on "*"
    delete_before_replace: ClassVar[bool] = False
    # input -> the schema of the JSON document it holds (a name under schemas/, e.g. "key-policy")
    documents: ClassVar[dict[str, "str | Path"]] = {}
    regional: ClassVar[bool] = True  # takes a `region` input, defaulting to keyplane:region
    # Outputs only a create returns (a grant token): carried from state since no read has them.
    kept_outputs: ClassVar[tuple[str, ...]] = ()
    # pulumi-aws's name of an input -> keyplane's: either is accepted, never both at once.
    synonyms: ClassVar[dict[str, str]] = {}

    serialize_as_secret_always = True

    # Runtime attributes are built in configure() and never pickled: the pickled provider is
    # stored in Pulumi state, which must hold no clients and no credentials.
    _RUNTIME = ("_settings", "_connections")

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in self._RUNTIME}

    def configure(self, req: ConfigureRequest) -> None:
        self._settings = Settings.from_config(req.config)
        self._connections = {}
        if _in_plugin_server() and os.environ.get("KEYPLANE_PROVIDER_TRACEBACKS") != "1":
            # The plugin server sends `traceback.format_exc()` as the error the user reads;
            # every failure here is already one line (AWS code and message), so print no frames.
            # Never in a program's process: Pulumi reads stacks there (`extract_stack`).
            sys.tracebacklimit = 0

    # -- helpers for subclasses --------------------------------------------------------------
    @classmethod
    def schema(cls) -> "str | Path":
        return f"resources/{cls.resource}"

    @classmethod
    def input_names(cls) -> list[str]:
        return list(validator(cls.schema()).schema.get("properties", {}))

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        props = validator(cls.schema()).schema.get("properties", {})
        return {k: v["default"] for k, v in props.items() if isinstance(v, dict) and "default" in v}

    @property
    def settings(self) -> Settings:
        settings = self.__dict__.get("_settings")
        return settings if settings is not None else Settings()

    def api(self, props: dict) -> Api:
        """Clients for the resource's region and account (its own `region` / `account` inputs,
        else keyplane:region / the configured account)."""
        connections = self.__dict__.setdefault("_connections", {})
        account = props.get("account")
        with _CLIENTS_LOCK:
            if account not in connections:
                connections[account] = connect(self.settings, account)
            connection = connections[account]
        region = props.get("region") if self.regional else None
        region = region or self.settings.region or getattr(connection, "region", None)
        return Api(connection, region)

    def normalize(self, inputs: dict) -> dict:
        """Resource hook: canonical inputs before validation (aliases of names, etc.)."""
        return inputs

    def validate(self, inputs: dict) -> list[CheckFailure]:
        """Resource hook: checks no schema can say (cross-field rules)."""
        return []

    def doomed(self, olds: dict) -> bool:
        """Resource hook: whether the live resource, though still there, was scheduled for
        deletion outside Pulumi; the next `up` then updates it, which brings it back."""
        return False

    def same(self, name: str, old: Any, new: Any) -> bool:
        """Whether an input value is unchanged; documents compare as JSON, not as text."""
        if name in self.documents:
            try:
                return parse_document(old) == parse_document(new)
            except ValueError:
                return old == new
        if old in (None, {}, []) and new in (None, {}, []):
            return True
        return old == new

    # -- the dynamic provider protocol -------------------------------------------------------
    def check(self, olds: dict, news: dict) -> CheckResult:
        inputs = {k: plain(v) for k, v in news.items() if k != PROVIDER_KEY and v is not None}
        try:
            inputs = self._synonyms(inputs)
            inputs = self._autoname(inputs, {k: plain(v) for k, v in (olds or {}).items()})
            inputs = self.normalize(inputs)
        except Refused as refused:
            return CheckResult(inputs, [CheckFailure(refused.prop, f"{refused.prop}: {refused.reason}")])
        for name, default in self.defaults().items():
            inputs.setdefault(name, default)
        if self.regional and not inputs.get("region") and self.settings.region:
            inputs["region"] = self.settings.region
        failures = schema_failures(validator(self.schema()), inputs)
        for name, schema in self.documents.items():
            value = inputs.get(name)
            if value is None or contains_unknown(value):
                continue
            try:
                document = parse_document(value)
            except ValueError as exc:
                failures.append(CheckFailure(name, f"{name}: not valid JSON: {exc}"))
                continue
            failures += schema_failures(validator(schema), document, prefix=(name,))
            if not contains_unknown(document):
                from keyplane.resources import lint

                failures += [CheckFailure(name, f"{json_path([name, *path])}: {message}")
                             for path, message in lint.unknown_actions(document)]
        if not failures:
            failures += self.validate(inputs)
        return CheckResult(inputs, failures)

    def _synonyms(self, inputs: dict) -> dict:
        for theirs, ours in self.synonyms.items():
            if theirs in inputs:
                if ours in inputs:
                    raise Refused(theirs, f"give {ours} or {theirs} (pulumi-aws's name for it), not both")
                inputs[ours] = inputs.pop(theirs)
        return inputs

    def _autoname(self, inputs: dict, olds: dict) -> dict:
        """pulumi-aws's `name_prefix`: a unique name starting with it, kept across updates."""
        prefix = inputs.get("name_prefix")
        if prefix is None or "name_prefix" not in self.input_names():
            return inputs
        if inputs.get("name") is not None:
            raise Refused("name_prefix", "give name or name_prefix, not both")
        if is_unknown(prefix):
            inputs["name"] = prefix
            return inputs
        old = olds.get("name")
        if olds.get("name_prefix") == prefix and isinstance(old, str) and old.startswith(prefix):
            inputs["name"] = old
        else:  # as pulumi-aws (Terraform's PrefixedUniqueId): the prefix and 26 characters
            import secrets

            inputs["name"] = prefix + secrets.token_hex(13)
        return inputs

    def diff(self, id_: str, olds: dict, news: dict) -> DiffResult:
        olds = {k: plain(v) for k, v in olds.items()}
        news = {k: plain(v) for k, v in news.items()}
        defaults = self.defaults()
        changed = []
        for name in self.input_names():
            if name in news:
                new = news[name]
            elif name in defaults:
                new = defaults[name]
            elif name == "account":
                new = None  # left out: the configured account, so leaving it out moves it back
            else:
                continue  # an optional input left out: the live value stands
            if is_unknown(new) or contains_unknown(new) or not self.same(name, olds.get(name), new):
                changed.append(name)
        if "*" in self.replace_on:
            replaces = [n for n in changed if n not in self.update_in_place]
        else:
            replaces = [n for n in changed if n in self.replace_on]
        return DiffResult(
            changes=bool(changed) or self.doomed(olds),
            replaces=replaces,
            delete_before_replace=bool(replaces) and self.delete_before_replace,
        )

    def create(self, props: dict) -> CreateResult:
        inputs = self._inputs(props)
        api = self.api(inputs)
        try:
            created = self._create(api, inputs)
            id_, once = created if isinstance(created, tuple) else (created, {})
            outs = self._outputs(api, id_, inputs)
            if outs is None:
                raise ProviderError(f"{self.resource} {id_} vanished right after it was created")
            outs.update(once)
        except Exception as exc:  # noqa: BLE001 - any failure: undo, then say it in one line
            api.rollback()
            raise ProviderError(one_line(exc)) from None
        return CreateResult(id_, outs)

    def read(self, id_: str, props: dict) -> ReadResult:
        inputs = self._inputs(props)
        api = self.api(inputs)
        try:
            outs = self._outputs(api, id_, inputs)
        except Exception as exc:  # noqa: BLE001
            raise ProviderError(one_line(exc)) from None
        if outs is None:
            return ReadResult(None, {})
        return ReadResult(id_, {**outs, **self._kept(props)})

    def update(self, id_: str, olds: dict, news: dict) -> UpdateResult:
        olds = {k: plain(v) for k, v in olds.items() if k != PROVIDER_KEY}
        inputs = self._inputs(news)
        # pulumi-aws's names are outputs only (check turns them into keyplane's), never a change
        changed = {n for n in self.input_names()
                   if n not in self.synonyms and not self.same(n, olds.get(n), inputs.get(n))}
        api = self.api(inputs)
        try:
            self._update(api, id_, olds, inputs, changed)
            outs = self._outputs(api, id_, inputs)
            if outs is None:
                raise ProviderError(f"{self.resource} {id_} no longer exists")
        except Exception as exc:  # noqa: BLE001
            raise ProviderError(one_line(exc)) from None
        return UpdateResult({**outs, **self._kept(olds)})

    def delete(self, id_: str, props: dict) -> None:
        inputs = self._inputs(props)
        api = self.api(inputs)
        try:
            self._delete(api, id_, inputs)
        except Exception as exc:  # noqa: BLE001
            if error_code(exc) in self.gone_codes:
                return  # already gone: deleting is idempotent
            raise ProviderError(one_line(exc)) from None

    # Error codes meaning "this resource does not exist (any more)".
    gone_codes: ClassVar[frozenset[str]] = frozenset({"NotFoundException"})

    def _kept(self, props: dict) -> dict:
        return {k: plain(props[k]) for k in self.kept_outputs if props.get(k) is not None}

    def _inputs(self, props: dict) -> dict:
        names = set(self.input_names())
        return {k: plain(v) for k, v in props.items() if k in names and v is not None}

    def _outputs(self, api: Api, id_: str, inputs: dict) -> Optional[dict]:
        """The full outputs: the inputs, overlaid with what a live read says (drift wins)."""
        try:
            live = self._read(api, id_, inputs)
        except Exception as exc:  # noqa: BLE001
            if error_code(exc) in self.gone_codes:
                return None
            raise
        if live is None:
            return None
        outs = dict(inputs)
        outs.update({k: v for k, v in live.items() if v is not None or k not in inputs})
        if self.regional:
            outs.setdefault("region", api.region)
        outs.update(self.synonym_outputs(outs))
        return outs

    def synonym_outputs(self, outs: dict) -> dict:
        """pulumi-aws's names read back as well as taken (`secret.replica`, `param.insecure_value`):
        the value under keyplane's name. A resource whose value under that name would be a secret
        shown in plaintext leaves it out."""
        return {theirs: outs.get(ours) for theirs, ours in self.synonyms.items()}

    # -- what a resource writes --------------------------------------------------------------
    def _create(self, api: Api, inputs: dict) -> "str | tuple[str, dict]":
        """Creates the resource; returns its id (and outputs only a create can give, if any).
        Register how to undo each step with `api.on_failure`."""
        raise NotImplementedError

    def _read(self, api: Api, id_: str, inputs: dict) -> Optional[dict]:
        """The live outputs (input names included, so drift shows), or None when gone."""
        raise NotImplementedError

    def _update(self, api: Api, id_: str, olds: dict, news: dict, changed: set[str]) -> None:
        raise NotImplementedError

    def _delete(self, api: Api, id_: str, inputs: dict) -> None:
        raise NotImplementedError


# ---- what a Pulumi program uses ---------------------------------------------------------------
class Resource(pulumi.dynamic.Resource):
    """Base of the public resources (`keyplane.Key`, ...): inputs as keyword arguments, computed
    outputs as attributes, secret outputs marked secret in state."""

    _provider_class: ClassVar[type[Provider]]
    _computed: ClassVar[dict[str, type]] = {}  # outputs the provider computes, and their types
    _secret: ClassVar[tuple[str, ...]] = ()  # outputs stored as secrets

    def __init__(self, resource_name: str, opts: Optional[pulumi.ResourceOptions] = None, **inputs):
        self._declared = frozenset(k for k, v in inputs.items() if v is not None)
        props: dict[str, Any] = {name: None for name in self._computed}
        props.update(inputs)
        if self._secret:
            opts = pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(additional_secret_outputs=list(self._secret))
            )
        super().__init__(self._provider_class(), resource_name, props, opts)


    @classmethod
    def get(cls, resource_name: str, id: "pulumi.Input[str]", opts: Optional[pulumi.ResourceOptions] = None,
            **where: Any):
        """An existing resource, read (not managed) by id, as pulumi-aws's `Key.get(name, id)`:
        its outputs are the live ones, and `pulumi destroy` leaves it alone. `where` gives what
        the read needs besides the id when it is not the default (`region=`, `account=`)."""
        obj = cls.__new__(cls)
        outputs = {name: None for name in cls._provider_class.input_names()}  # every output an attribute
        Resource.__init__(obj, resource_name, pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(id=id)),
                          **{**outputs, **where})
        return obj


class Typed:
    """What the generated typed resources (`typed.py`) share: keyword arguments and `args` merged,
    an unknown name refused with the closest known one."""

    def _declare(self, resource_name: str, opts, args: Optional[dict], unknown: dict, given: dict) -> None:
        known = list(given)
        inputs = {}
        for source in (dict(args or {}), unknown):
            for name, value in source.items():
                if name not in given:
                    nearest = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
                    hint = f"; did you mean {nearest[0]!r}?" if nearest else f"; expected one of: {', '.join(known)}"
                    raise TypeError(f"keyplane.{type(self).__name__}: unknown argument {name!r}{hint}")
                inputs[name] = value
        inputs.update({name: value for name, value in given.items() if value is not None})
        super(Typed, self).__init__(resource_name, opts, **inputs)


def sets_part_of(reference: Any, part: str, resource: str, name: str) -> Any:
    """`reference` (e.g. `key.key_id`) for a resource that manages one part of another one (a
    KeyPolicy, the Key's policy): the program fails, saying so, when the resource `reference`
    comes from declares that part itself, since the two would undo each other on every `up`."""
    if not isinstance(reference, pulumi.Output):
        return reference

    async def not_declared_there() -> bool:
        for owner in await reference.resources():
            if isinstance(owner, Resource) and part in owner._declared:
                raise ValueError(
                    f"keyplane.{resource} {name!r} sets the {part} of keyplane.{type(owner).__name__} "
                    f"{owner._name!r}, which declares `{part}` itself: declare it in one place, either "
                    f"`{part}=` on the {type(owner).__name__} or a {resource} (and no `{part}` on it)")
        return True

    return pulumi.Output.all(reference, pulumi.Output.from_input(not_declared_there())).apply(lambda v: v[0])
