"""Multi-Region keys over HTTP: a real `keyplane serve` whose state folder maps Regions to stores
of their own (regions.yaml), signed boto3 clients in two Regions (the Region comes from the SigV4
scope), and the loss of the primary Region's store across a server restart."""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys

import pytest
from botocore.exceptions import ClientError

from keyplane_server import Server, free_port, keyplane_env, start_server, wait_healthy


def test_replica_in_another_region_store_survives_losing_the_primary_store_over_http(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "regions.yaml").write_text("us-east-1: east\neu-west-1: west\n")
    server = start_server(tmp_path)
    try:
        east, west = server.client("kms", "us-east-1"), server.client("kms", "eu-west-1")
        key = east.create_key(MultiRegion=True)["KeyMetadata"]
        out = east.replicate_key(KeyId=key["KeyId"], ReplicaRegion="eu-west-1")
        assert out["ReplicaKeyMetadata"]["KeyState"] == "Creating"
        blob = east.encrypt(KeyId=key["KeyId"], Plaintext=b"over http",
                            EncryptionContext={"k": "v"})["CiphertextBlob"]
        assert west.decrypt(CiphertextBlob=blob, EncryptionContext={"k": "v"})["Plaintext"] == b"over http"
        assert (state / "east" / "state.db").exists() and (state / "west" / "state.db").exists()
    finally:
        server.stop(signal.SIGKILL)
    for path in (state / "east").iterdir():          # the primary Region's store, root key and audit files
        shutil.rmtree(path) if path.is_dir() else path.unlink()

    server = _restart(tmp_path, server)
    try:
        east, west = server.client("kms", "us-east-1"), server.client("kms", "eu-west-1")
        assert west.decrypt(CiphertextBlob=blob, EncryptionContext={"k": "v"})["Plaintext"] == b"over http"
        with pytest.raises(ClientError) as err:
            east.describe_key(KeyId=key["KeyId"])
        assert err.value.response["Error"]["Code"] == "NotFoundException"
        west.update_primary_region(KeyId=key["KeyId"], PrimaryRegion="eu-west-1")
        config = west.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"]
        assert config["MultiRegionKeyType"] == "PRIMARY" and config["ReplicaKeys"] == []
    finally:
        server.stop()


def _restart(tmp_path, old):
    """The same state folder and credentials, a new server process."""
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "keyplane.cli", "serve", "--port", str(port),
                                 "--state", str(old.state)], env=keyplane_env(), stdout=f,
                                stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(endpoint, proc, log)
    except Exception:
        proc.kill()
        raise
    return Server(proc, endpoint, old.state, old.access_key, old.secret_key, log)
