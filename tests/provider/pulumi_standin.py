"""A stand-in for the `pulumi` CLI, for running examples/up.sh where the real CLI cannot be installed.

It is NOT Pulumi: it implements the few commands up.sh uses, and records every call so a test can
check how up.sh drives Pulumi (argv, whether a value came on standard input, the backend named by
PULUMI_BACKEND_URL):

    pulumi login --local
    pulumi stack select --create STACK
    pulumi config set [--secret] KEY [VALUE]        (no VALUE: read from standard input, as Pulumi does)
    pulumi up --yes

`up` reads Pulumi.yaml in the working directory (`name`, `main`, `config` defaults) as the CLI
does, starts the real dynamic provider plugin (`python -m pulumi.dynamic`) Configured with the stack
config, and runs the program under `pulumi.runtime.set_mocks` with every resource forwarded to it
(tests/provider/harness.py), so the provider's Check and Create run as under `pulumi up`.
STANDIN_HOME (required) holds the calls log (calls.jsonl) and each stack's config.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
HOME = Path(os.environ["STANDIN_HOME"])


def record(argv: list[str], stdin: bytes | None) -> None:
    entry = {"argv": argv, "cwd": os.getcwd(), "stdin_bytes": None if stdin is None else len(stdin),
             "backend": os.environ.get("PULUMI_BACKEND_URL")}
    with open(HOME / "calls.jsonl", "a") as f:
        f.write(json.dumps(entry) + "\n")


def project() -> dict:
    return yaml.safe_load(Path("Pulumi.yaml").read_text())


def config_file() -> Path:
    stack = (HOME / "current-stack").read_text().strip()
    return HOME / f"{project()['name']}.{stack}.json"


def load_config() -> dict:
    path = config_file()
    return json.loads(path.read_text()) if path.exists() else {"values": {}, "secret_keys": []}


def qualified(key: str) -> str:
    return key if ":" in key else f"{project()['name']}:{key}"


def main(argv: list[str]) -> int:
    stdin = None
    if argv[:2] == ["config", "set"] and len([a for a in argv[2:] if not a.startswith("--")]) == 1:
        stdin = sys.stdin.buffer.read()
    record(argv, stdin)
    if argv[:1] == ["login"]:
        return 0
    if argv[:2] == ["stack", "select"]:
        (HOME / "current-stack").write_text(argv[-1])
        return 0
    if argv[:2] == ["config", "set"]:
        args = [a for a in argv[2:] if not a.startswith("--")]
        value = args[1] if len(args) > 1 else stdin.decode()
        conf = load_config()
        conf["values"][qualified(args[0])] = value
        if "--secret" in argv:
            conf["secret_keys"].append(qualified(args[0]))
        config_file().write_text(json.dumps(conf))
        return 0
    if argv[:1] == ["up"]:
        return up()
    print(f"pulumi stand-in: {' '.join(argv)} is not implemented", file=sys.stderr)
    return 2


def up() -> int:
    sys.path.insert(0, str(HERE))
    from harness import Engine, ProviderProcess, run_program

    proj = project()
    config = {qualified(k): str(v) for k, v in (proj.get("config") or {}).items()}
    conf = load_config()
    config.update(conf["values"])
    program = Path(proj.get("main") or ".") / "__main__.py"
    stack = (HOME / "current-stack").read_text().strip()
    with ProviderProcess(config) as process:
        run = run_program(program, Engine(process, stack=stack, project=proj["name"]), config,
                          project=proj["name"], stack=stack, secret_keys=tuple(conf["secret_keys"]))
    print(f"Resources: {len(run.mocks.created)} created")
    for name in sorted(run.mocks.created):
        print(f"    + {name}")
    print("Outputs: " + ", ".join(sorted(run.exports)))
    (HOME / "last-up.json").write_text(json.dumps({"created": run.mocks.created, "exports": run.exports},
                                                  default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
