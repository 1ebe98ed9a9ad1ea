"""Every example against a real `keyplane serve` in remote mode (keyplane:endpoint, SigV4 with the
access key `keyplane init` printed, the identities it wrote left as they are), each resource going
through the real plugin protocol; and examples/up.sh run as a user runs it.

The Pulumi CLI cannot be installed here: up.sh drives tests/provider/pulumi_standin.py, a stand-in
`pulumi` on PATH that records how it is called and runs the program under `set_mocks` against the
real provider process (see its docstring). The real CLI would run the same program and provider;
what the stand-in cannot show is the CLI's own behaviour (state files, secrets encryption)."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import urllib.request

import pytest
from botocore.exceptions import ClientError

from harness import TREE, Engine, ProviderProcess, run_program
from served import Served, http_fixtures

OWNER, PARTNER = "111122223333", "444455556666"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Served(tmp_path_factory.mktemp("served"))
    yield srv
    srv.stop()


def up(server, example: str, project: str, **config):
    stack_config = {**server.config(), **config}
    with ProviderProcess(stack_config) as process:
        return run_program(TREE / "examples" / example / "__main__.py", Engine(process, stack="dev", project=project),
                           stack_config, project=project, secret_keys=("keyplane:secretKey",))


def test_quickstart_runs_remote_with_the_identities_keyplane_init_writes(server):
    run = up(server, "quickstart", "keyplane")
    assert set(run.mocks.created) == {"Key/orders", "Alias/orders", "Grant/reader"}
    assert run.secret_outputs["Grant/reader"] == ["grant_token"]
    kms = server.connect().client("kms")
    meta = kms.describe_key(KeyId="alias/orders")["KeyMetadata"]
    assert meta["Arn"] == run.exports["key_arn"] and meta["Arn"].startswith(f"arn:aws:kms:us-east-1:{OWNER}:")
    # the reader role init made decrypts the orders data, by the key policy and by the grant
    blob = kms.encrypt(KeyId="alias/orders", Plaintext=b"order 42", EncryptionContext={"app": "orders"})
    reader = server.assume(f"arn:aws:iam::{OWNER}:role/reader").client("kms")
    assert reader.decrypt(CiphertextBlob=blob["CiphertextBlob"],
                          EncryptionContext={"app": "orders"})["Plaintext"] == b"order 42"


def test_multi_region_runs_remote(server):
    run = up(server, "multi_region", "multi_region")
    assert len(run.mocks.created) == 8     # key, 3 replicas, 4 aliases
    assert run.exports["cross_region_check"] == "12 cross-Region decryptions succeeded"
    for region, arn in run.exports["replica_arns"].items():
        assert server.connect().client("kms", region=region).describe_key(
            KeyId="alias/payments")["KeyMetadata"]["Arn"] == arn


def test_cross_account_runs_remote_over_two_accounts(server):
    """Another account uses a key when the key policy names that account and the account's own
    identity policy allows its principal (https://docs.aws.amazon.com/kms/latest/developerguide/
    key-policy-modifying-external-accounts.html), or through a grant, which needs no identity
    policy (https://docs.aws.amazon.com/kms/latest/developerguide/grants.html); a secret is read
    across accounts with its resource policy and a customer managed key the reader may decrypt with
    (https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_examples_cross.html)."""
    run = up(server, "cross_account", "cross_account")
    assert set(run.mocks.created) == {"Key/orders-shared", "Grant/partner-reader", "Secret/orders-api-token",
                                      "Parameter/partner-key-arn", "Parameter/partner-secret-arn"}
    assert run.exports["cross_account_check"].startswith(f"account {PARTNER}'s reader decrypted")
    key_arn, secret_arn = run.exports["key_arn"], run.exports["secret_arn"]
    assert f":{OWNER}:" in key_arn and f":{OWNER}:" in secret_arn

    # the parameters live in the partner account, made through its OrganizationAccountAccessRole
    partner_admin = server.assume(f"arn:aws:iam::{PARTNER}:role/OrganizationAccountAccessRole")
    ssm = partner_admin.client("ssm")
    assert ssm.get_parameter(Name="/shared/orders/key-arn")["Parameter"]["Value"] == key_arn
    assert ssm.get_parameter(Name="/shared/orders/secret-arn")["Parameter"]["ARN"].startswith(
        f"arn:aws:ssm:us-east-1:{PARTNER}:parameter/")
    with pytest.raises(ClientError):    # and not in the owner's
        server.connect().client("ssm").get_parameter(Name="/shared/orders/key-arn")

    reader = server.assume(f"arn:aws:iam::{PARTNER}:role/OrganizationAccountAccessRole",
                           f"arn:aws:iam::{PARTNER}:role/reader")
    owner_kms = server.connect().client("kms")
    # by the grant: data keys only for the orders context (the key policy gives B no GenerateDataKey)
    reader.client("kms").generate_data_key(KeyId=key_arn, KeySpec="AES_256", EncryptionContext={"app": "orders"})
    with pytest.raises(ClientError) as denied:
        reader.client("kms").generate_data_key(KeyId=key_arn, KeySpec="AES_256",
                                               EncryptionContext={"app": "billing"})
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    # by the key policy (B's account) and B's identity policy: any context
    blob = owner_kms.encrypt(KeyId=key_arn, Plaintext=b"bill", EncryptionContext={"app": "billing"})
    assert reader.client("kms").decrypt(CiphertextBlob=blob["CiphertextBlob"],
                                        EncryptionContext={"app": "billing"})["Plaintext"] == b"bill"
    # by the secret's resource policy
    value = reader.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
    assert value == server.connect().client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
    # the partner's admin role is not the reader: the secret's policy names only the reader
    with pytest.raises(ClientError) as denied:
        partner_admin.client("secretsmanager").get_secret_value(SecretId=secret_arn)
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"


def test_a_policy_naming_a_principal_init_did_not_make_names_it_and_identities_yaml(server):
    from harness import ProviderCallFailed
    from keyplane.resources.key import KeyProvider

    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OWNER}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OWNER}:role/auditor"},
         "Action": "kms:Decrypt", "Resource": "*"}]}
    with ProviderProcess(server.config()) as process:
        with pytest.raises(ProviderCallFailed) as failed:
            Engine(process).up(KeyProvider(), "k", {"policy": policy}, "pulumi-python:dynamic/keyplane:Key")
    line = failed.value.last_line
    assert "MalformedPolicyDocumentException: Policy contains a statement with one or more invalid principals." in line
    assert f"arn:aws:iam::{OWNER}:role/auditor is not a role in the identities file (identities.yaml)" in line


# ---- examples/up.sh --------------------------------------------------------------------------
def _venv(folder):
    """A stand-in for the README's virtualenv: `keyplane` and `python` of this test's interpreter
    on this tree."""
    bin_ = folder / "bin"
    bin_.mkdir(parents=True)
    (bin_ / "keyplane").write_text(
        f"#!/bin/sh\nPYTHONPATH={TREE / 'provider'} exec {sys.executable} -m keyplane.cli \"$@\"\n")
    (bin_ / "python").write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")   # a symlink loses the venv
    for name in ("keyplane", "python"):
        (bin_ / name).chmod(0o755)
    return folder


def _standin_pulumi(folder):
    folder.mkdir()
    script = folder / "pulumi"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} {TREE / 'tests' / 'provider' / 'pulumi_standin.py'} \"$@\"\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder


def test_up_sh_runs_the_quickstart_against_the_server_it_starts(tmp_path):
    """The server settings up.sh relies on (plain HTTP, one process whose pid answers, init's
    identities) hold whatever KEYPLANE_* the user's shell exports; Pulumi's state goes to its local
    backend through PULUMI_BACKEND_URL for this run only, never `pulumi login`, which would change the
    user's current backend (https://www.pulumi.com/docs/iac/cli/commands/pulumi_login/)."""
    port = http_fixtures().free_port()
    home = tmp_path / "standin"
    home.mkdir()
    env = {k: v for k, v in http_fixtures().keyplane_env().items() if not k.startswith("PULUMI_")}
    env.update({"KEYPLANE_TLS": "1", "KEYPLANE_WORKERS": "2", "KEYPLANE_DEV": "1",   # a shell's leftovers
                "PATH": f"{_standin_pulumi(tmp_path / 'bin')}{os.pathsep}{env['PATH']}",
                "KEYPLANE_VENV": str(_venv(tmp_path / "venv")), "KEYPLANE_STATE": str(tmp_path / "state"),
                "KEYPLANE_PORT": str(port), "STANDIN_HOME": str(home),
                "PYTHONPATH": f"{TREE / 'provider'}{os.pathsep}{TREE / 'tests' / 'provider'}"})
    done = subprocess.run(["bash", str(TREE / "examples" / "up.sh")], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Resources: 3 created" in done.stdout
    for said in ("keyplane init --state", f"starting keyplane serve on http://127.0.0.1:{port}",
                 "answers on", "the secret key on stdin", "pulumi up (", "stopping keyplane serve"):
        assert said in done.stderr

    ids = __import__("yaml").safe_load((tmp_path / "state" / "identities.yaml").read_text())
    secret = ids["accounts"][0]["users"][0]["access_keys"][0]["secret"]
    calls = [json.loads(line) for line in (home / "calls.jsonl").read_text().splitlines()]
    assert [c["argv"][:2] for c in calls] == [["stack", "select"], ["config", "set"],
                                              ["config", "set"], ["config", "set"], ["up", "--yes"]]
    assert {c["backend"] for c in calls} == {"file://~"}
    assert all(secret not in " ".join(c["argv"]) for c in calls)          # never in argv
    secret_set = calls[3]
    assert secret_set["argv"] == ["config", "set", "--secret", "keyplane:secretKey"]
    assert secret_set["stdin_bytes"] == len(secret)                        # on standard input
    assert calls[1]["argv"][-1] == f"http://127.0.0.1:{port}"
    assert calls[-1]["cwd"] == str(TREE)                                   # the root Pulumi.yaml

    # the server stopped with pulumi; what it made is in the state, as the quickstart declared it
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/_keyplane/health", timeout=2)
    from harness import observer
    kms = observer(str(tmp_path / "state")).client("kms", region="us-east-1")
    key = kms.describe_key(KeyId="alias/orders")["KeyMetadata"]
    (grant,) = kms.list_grants(KeyId=key["KeyId"])["Grants"]
    assert grant["GranteePrincipal"] == f"arn:aws:iam::{OWNER}:role/reader"


def test_up_sh_refuses_a_port_any_server_listens_on(tmp_path):
    """Not only a keyplane: a server answering 404 to /_keyplane/health (LocalStack's port is 4566
    too) is refused before keyplane serve starts and fails to bind next to it."""
    done, port = _up_sh_on_a_port_another_server_holds(tmp_path, _venv(tmp_path / "venv"))
    assert done.returncode == 1, done.stderr
    assert f"something already answers on http://127.0.0.1:{port}" in done.stderr
    assert "starting keyplane serve" not in done.stderr
    assert not (tmp_path / "calls.jsonl").exists()


def test_up_sh_stops_waiting_when_the_server_it_started_exits(tmp_path):
    done = _up_sh(tmp_path, _venv(tmp_path / "venv"), http_fixtures().free_port(),
                  KEYPLANE_QUOTAS=str(tmp_path / "no-such-quotas.yaml"))      # serve refuses to start
    assert done.returncode == 1, done.stderr
    assert "no-such-quotas.yaml" in done.stderr                            # serve's own reason
    assert "keyplane serve (pid " in done.stderr and "exited before it answered" in done.stderr
    assert "did not come up" not in done.stderr
    assert not (tmp_path / "calls.jsonl").exists()


def test_up_sh_adds_the_extras_to_a_virtualenv_that_lacks_them(tmp_path):
    """A ./venv made by `pip install -e '.[pulumi]'` (the README's Pulumi section) has no database
    drivers, so db_credentials would fail at its first import; up.sh installs the extras into it."""
    venv = _venv(tmp_path / "venv")
    # this interpreter without site-packages: no pulumi, psycopg, pymysql
    (venv / "bin" / "python").write_text(f"#!/bin/sh\nexec {sys.executable} -S \"$@\"\n")
    (venv / "bin" / "pip").write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {tmp_path / 'pip-argv'}\n")
    for name in ("python", "pip"):
        (venv / "bin" / name).chmod(0o755)
    # a taken port ends the run right after the virtualenv step
    done, _ = _up_sh_on_a_port_another_server_holds(tmp_path, venv)
    assert "adding what the examples need" in done.stderr, done.stderr
    assert (tmp_path / "pip-argv").read_text().split() == ["install", "-q", "-e", f"{TREE}[pulumi,postgres,mysql]"]


def _up_sh(tmp_path, venv, port: int, **extra_env):
    """examples/up.sh run as a user runs it, with the stand-in pulumi first on PATH."""
    env = {**http_fixtures().keyplane_env(), "PATH": f"{_standin_pulumi(tmp_path / 'bin')}{os.pathsep}{os.environ['PATH']}",
           "KEYPLANE_VENV": str(venv), "KEYPLANE_STATE": str(tmp_path / "state"),
           "KEYPLANE_PORT": str(port), "STANDIN_HOME": str(tmp_path), **extra_env}
    return subprocess.run(["bash", str(TREE / "examples" / "up.sh")], env=env, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)


def _up_sh_on_a_port_another_server_holds(tmp_path, venv):
    """up.sh with its port held by a plain HTTP server (not a keyplane): (its result, the port)."""
    port = http_fixtures().free_port()
    other = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                             cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _listening(port, other)
        return _up_sh(tmp_path, venv, port), port
    finally:
        other.terminate()
        other.wait(30)


def _listening(port, proc):
    import socket
    import time
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)   # waiting for a process to bind its port, not for domain time
    raise RuntimeError(f"nothing listens on {port}")


def test_up_sh_refuses_a_port_another_server_answers(tmp_path, server):
    done = _up_sh(tmp_path, _venv(tmp_path / "venv"), int(server.endpoint.rsplit(":", 1)[1]))
    assert done.returncode == 1
    assert f"something already answers on {server.endpoint}" in done.stderr
    assert not (tmp_path / "calls.jsonl").exists()                        # pulumi never ran
