"""The image's HEALTHCHECK: healthy when /_keyplane/health answers 200 (the store is reachable)."""
import os
import sys
import urllib.request

port = os.environ.get("KEYPLANE_PORT", "4566")
scheme = "https" if os.environ.get("KEYPLANE_TLS", "").lower() in ("1", "true", "yes") else "http"
try:
    import ssl
    context = ssl._create_unverified_context() if scheme == "https" else None   # our own loopback
    with urllib.request.urlopen(f"{scheme}://127.0.0.1:{port}/_keyplane/health", timeout=2, context=context) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception as exc:   # noqa: BLE001 - any failure is "unhealthy"
    print(f"unhealthy: {exc}", file=sys.stderr)
    sys.exit(1)
