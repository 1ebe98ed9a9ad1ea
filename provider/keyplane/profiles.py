"""`keyplane init --profile NAME`: a named AWS profile for keyplane, so only the services keyplane
serves go to it. The AWS SDKs and CLI read a profile's `services` section (service-specific
endpoints): https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html"""
from __future__ import annotations

import configparser
import os
from pathlib import Path

from keyplane.engine.private_dirs import make_private_dirs

# the service identifiers AWS's shared config files use in a services section
SERVICE_KEYS = ("kms", "ssm", "secrets_manager", "sts")


def _write(path: Path, parser: configparser.ConfigParser, mode: int) -> None:
    make_private_dirs(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        parser.write(f)
    os.chmod(path, mode)


def write_profile(name: str, endpoint: str, access_key: str, secret_key: str, region: str = "us-east-1",
                  config_file: str | None = None, credentials_file: str | None = None) -> tuple[Path, Path]:
    """Add (or replace) profile `name` in the shared config and credentials files, keeping every
    other profile as it was. Returns the two paths."""
    config_path = Path(config_file or os.environ.get("AWS_CONFIG_FILE") or Path.home() / ".aws" / "config")
    credentials_path = Path(credentials_file or os.environ.get("AWS_SHARED_CREDENTIALS_FILE")
                            or Path.home() / ".aws" / "credentials")
    services = f"keyplane-{name}"

    config = configparser.ConfigParser(interpolation=None)
    config.read(config_path)
    section = "default" if name == "default" else f"profile {name}"
    config[section] = {"region": region, "services": services}
    config[f"services {services}"] = {}
    # a services section holds one sub-section per service: "kms =\n  endpoint_url = ..."
    config[f"services {services}"] = {key: f"\nendpoint_url = {endpoint}" for key in SERVICE_KEYS}
    _write(config_path, config, 0o600)

    credentials = configparser.ConfigParser(interpolation=None)
    credentials.read(credentials_path)
    credentials[name] = {"aws_access_key_id": access_key, "aws_secret_access_key": secret_key}
    _write(credentials_path, credentials, 0o600)
    return config_path, credentials_path
