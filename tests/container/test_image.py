"""The container image: built from the Dockerfile and run, as a user's `docker build` / `docker run`
would, with the tools that work on these machines. No registry can be reached here, so the base
image is a Debian made locally with debootstrap (passed as `--build-arg BASE=...`, as the
Dockerfile allows); Docker's engine cannot run here, and podman/crun cannot set RLIMIT_NPROC in
this sandbox, so the image is built with `buildah bud --isolation chroot` and run with
`buildah run --isolation chroot` (which shares the host's network, so the test reaches the port)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
import botocore.config
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "http"))
from keyplane_server import free_port  # noqa: E402

BASE = "localhost/keyplane-test-base:bookworm"
IMAGE = "localhost/keyplane:test"
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
MIRROR = os.environ.get("KEYPLANE_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def _require(ok: bool, reason: str) -> None:
    """tests/conftest.py's rule: a missing real part skips, except under KEYPLANE_REQUIRE_ALL."""
    if not ok:
        if os.environ.get("KEYPLANE_REQUIRE_ALL") == "1":
            pytest.fail(f"required for this test but missing: {reason}", pytrace=False)
        pytest.skip(reason)


def _run(*args, timeout=900, check=True, **kw) -> subprocess.CompletedProcess:
    out = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


def _image_exists(name: str) -> bool:
    return _run("buildah", "inspect", "--type", "image", name, check=False).returncode == 0


def _make_base() -> None:
    """Debian bookworm (minbase + python3, venv, CA certificates) as a local image."""
    rootfs = tempfile.mkdtemp(prefix="keyplane-rootfs-")
    try:
        _run("debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates",
             "bookworm", rootfs, MIRROR, timeout=1500)
        container = _run("buildah", "from", "scratch").stdout.strip()
        try:
            mount = _run("buildah", "mount", container).stdout.strip()
            subprocess.run(f"tar -C {rootfs} -c . | tar -C {mount} -x", shell=True, check=True, timeout=600)
            _run("buildah", "umount", container)
            _run("buildah", "config", "--cmd", "/bin/sh", container)
            _run("buildah", "commit", "-q", container, BASE)
        finally:
            _run("buildah", "rm", container, check=False)
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)


@pytest.fixture(scope="module")
def image():
    _require(shutil.which("buildah") is not None, "buildah is not installed (apt-get install buildah)")
    _require(shutil.which("debootstrap") is not None, "debootstrap is not installed (apt-get install debootstrap)")
    _require(os.geteuid() == 0, "building an image with buildah here needs root")
    if not _image_exists(BASE):
        _make_base()
    # this machine reaches PyPI through a proxy whose CA only the host's bundle holds: lend it to pip
    # --format docker: the OCI image format has no HEALTHCHECK, Docker's keeps it (as docker build does)
    _run("buildah", "bud", "--isolation", "chroot", "--format", "docker", "--layers=false", "--build-arg", f"BASE={BASE}",
         "--volume", f"{HOST_CA}:/run/host-ca.pem:ro", "--build-arg", "PIP_CERT=/run/host-ca.pem",
         "-t", IMAGE, "-f", str(ROOT / "Dockerfile"), str(ROOT), timeout=1500)
    yield IMAGE


def test_the_image_runs_as_a_non_root_user_with_state_on_a_volume_and_a_healthcheck(image):
    config = json.loads(_run("buildah", "inspect", "--type", "image", image).stdout)
    oci = config["OCIv1"]["config"]
    assert oci["User"] == "keyplane"
    assert "4566/tcp" in oci["ExposedPorts"]
    assert "/var/lib/keyplane" in oci["Volumes"]
    assert oci["Entrypoint"] == ["/usr/local/bin/keyplane-entrypoint"]
    assert "KEYPLANE_PORT=4566" in oci["Env"] and "KEYPLANE_HOST=0.0.0.0" in oci["Env"]
    health = config["Docker"]["config"]["Healthcheck"]
    assert health["Test"] == ["CMD", "python3", "/usr/local/bin/keyplane-healthcheck"]


class Running:
    def __init__(self, image: str, port: int, *args: str, volumes: tuple[str, ...] = ()):
        self.container = _run("buildah", "from", image).stdout.strip()
        self.log = tempfile.NamedTemporaryFile(prefix="keyplane-image-", suffix=".log", delete=False)
        self.port = port
        mounts = [arg for volume in volumes for arg in ("--volume", volume)]     # docker run -v
        self.proc = subprocess.Popen(
            ["buildah", "run", "--isolation", "chroot", "--user", "keyplane", "--env", f"KEYPLANE_PORT={port}",
             *mounts, self.container, "--", "/usr/local/bin/keyplane-entrypoint", *args],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return Path(self.log.name).read_text()

    def wait_healthy(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.output()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_keyplane/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)   # waiting for the server to bind its port
        raise AssertionError("the image's server did not become healthy:\n" + self.output())

    def exec(self, *args: str) -> subprocess.CompletedProcess:
        return _run("buildah", "run", "--isolation", "chroot", "--user", "keyplane", "--env",
                    f"KEYPLANE_PORT={self.port}", self.container, "--", *args, check=False, timeout=120)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        _run("buildah", "rm", self.container, check=False)
        os.unlink(self.log.name)


def test_the_image_serves_and_answers_its_healthcheck(image):
    server = Running(image, free_port(), "serve", "--dev")
    try:
        server.wait_healthy()
        check = server.exec("python3", "/usr/local/bin/keyplane-healthcheck")
        assert check.returncode == 0, check.stderr
        whoami = server.exec("id", "-un")
        assert whoami.stdout.strip() == "keyplane"
        kms = boto3.client("kms", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{server.port}",
                           aws_access_key_id="test", aws_secret_access_key="test",
                           config=botocore.config.Config(retries={"total_max_attempts": 1}))
        key = kms.create_key(Description="in a container")["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=key, Plaintext=b"contained")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"contained"
    finally:
        server.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/_keyplane/health", timeout=2)


def test_a_persistent_start_initialises_its_volume_once(image):
    """Without --dev the entry point runs `keyplane init` on an empty state folder: the root key
    and identities are created 0600 as the image's user, and the server enforces them."""
    server = Running(image, free_port(), "serve")
    try:
        server.wait_healthy()
        listing = server.exec("sh", "-c", "stat -c '%a %U %n' /var/lib/keyplane /var/lib/keyplane/root.key "
                                          "/var/lib/keyplane/identities.yaml")
        lines = listing.stdout.split("\n")
        assert lines[0].startswith("700 keyplane"), listing.stdout
        assert lines[1].startswith("600 keyplane") and lines[2].startswith("600 keyplane"), listing.stdout
        assert "AWS_ACCESS_KEY_ID=" in server.output()
    finally:
        server.stop()


def test_the_issues_command_a_mounted_seed_file_in_dev_mode(image, tmp_path):
    """`docker run -p 4566:4566 -v $PWD/seed.yaml:/seed.yaml keyplane serve --dev --seed /seed.yaml`,
    then the AWS CLI with test/test: the seeded alias is there, on the fixed key id."""
    seed = tmp_path / "seed.yaml"
    seed.write_text("keys:\n  - id: 0b8a3f5e-3c1d-4e6f-9a7b-2c4d6e8f0a1b\n    aliases: [alias/app]\n"
                    "parameters:\n  - {name: /app/db/host, value: db.internal}\n")
    seed.chmod(0o644)
    server = Running(image, free_port(), "serve", "--dev", "--seed", "/seed.yaml", volumes=(f"{seed}:/seed.yaml:ro",))
    try:
        server.wait_healthy()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1",
                   AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
        out = _run("aws", "--endpoint-url", f"http://localhost:{server.port}", "kms", "list-aliases", "--output",
                   "json", env=env, timeout=120)
        aliases = {a["AliasName"]: a.get("TargetKeyId") for a in json.loads(out.stdout)["Aliases"]}
        assert aliases["alias/app"] == "0b8a3f5e-3c1d-4e6f-9a7b-2c4d6e8f0a1b"
        assert "seed /seed.yaml: 3 created" in server.output()     # key, alias, parameter
    finally:
        server.stop()
