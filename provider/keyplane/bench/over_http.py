"""`keyplane bench --endpoint URL`: the same workload over HTTP against keyplane, a second
AWS-compatible endpoint (`--compare`), and a canned-response floor server (`--floor`).

Each client is a separate process with its own boto3 client (as real applications are), so
`--clients 4` measures what the server sustains, not what one Python interpreter can send. The
floor answers every call with a fixed, valid response and checks nothing: the gap between it and
keyplane is what keyplane's own work costs; the floor itself is what the client costs.

Beside calls/s, each line shows the server's CPU per call, read from /proc for the floor (which this
run starts) and for `--server-pid` / `--compare-pid`: on a machine shared with other work that
ratio holds where a throughput ratio does not.
"""
from __future__ import annotations

import multiprocessing
import os
import time

from . import server_cpu
from .floor import start_floor

# op -> (service, boto3 method); the last two are the reads the issue holds to 2x the floor
CALLS = {"encrypt": ("kms", "encrypt"), "decrypt": ("kms", "decrypt"),
         "generate-data-key": ("kms", "generate_data_key"),
         "get-parameter": ("ssm", "get_parameter"), "get-secret-value": ("secretsmanager", "get_secret_value")}


def add_arguments(p) -> None:
    p.add_argument("--endpoint", default=None, help="bench a keyplane (or any AWS-compatible) endpoint over HTTP; "
                   "--ops may add get-parameter (a SecureString, decrypted) and get-secret-value")
    p.add_argument("--compare", default=None, help="a second AWS-compatible endpoint, benched in the same run")
    p.add_argument("--clients", type=int, default=1, help="client processes, each with its own boto3 client")
    p.add_argument("--floor", action="store_true", help="also bench a canned-response server (the client's own cost)")
    p.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    p.add_argument("--key-id", default=None, help="key to use (default: one created for the run)")
    p.add_argument("--ca-bundle", default=os.environ.get("AWS_CA_BUNDLE"), help="CA certificate for https endpoints")
    p.add_argument("--server-pid", type=server_cpu.pids_arg, default=None, metavar="PID[,PID]",
                   help="process of the --endpoint server: its CPU per call is shown (workers counted)")
    p.add_argument("--compare-pid", type=server_cpu.pids_arg, default=None, metavar="PID[,PID]",
                   help="process of the --compare server")


# ---- a client process -----------------------------------------------------------------------------

def client(endpoint: str, region: str, creds: dict, ca, service: str = "kms"):
    import boto3
    import botocore.config
    return boto3.session.Session(**creds).client(
        service, region_name=region, endpoint_url=endpoint, verify=ca,
        config=botocore.config.Config(retries={"total_max_attempts": 1}, max_pool_connections=2))


def _worker(endpoint, region, creds, ca, service, method, args, seconds, ready, go, results):
    call = getattr(client(endpoint, region, creds, ca, service), method)
    for _ in range(20):  # warm the connection and botocore's caches
        call(**args)
    ready.put(os.getpid())
    go.wait()  # all clients start together
    samples, errors = [], 0
    clock = time.perf_counter
    cpu0 = time.process_time()
    end = clock() + seconds
    while True:
        t0 = clock()
        try:
            call(**args)
        except Exception:  # noqa: BLE001 - an error is counted, not fatal to the run
            errors += 1
        t1 = clock()
        samples.append(t1 - t0)
        if t1 >= end:
            break
    results.put((samples, errors, time.process_time() - cpu0))


def run_clients(endpoints: list[str], region: str, creds: dict, ca, call: tuple[str, str], args: dict,
                seconds: float, clients: int, server_pids: list[int] | None = None) -> dict:
    """`clients` processes calling `call` (service, boto3 method) with `args`, client i on
    endpoints[i % len(endpoints)], as a load balancer spreads them."""
    ctx = multiprocessing.get_context("spawn")
    results, ready, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_worker, args=(endpoints[i % len(endpoints)], region, creds, ca, *call, args,
                                               seconds, ready, go, results))
             for i in range(clients)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=120)
    # the server is idle here (clients have warmed up) and again once every client has reported
    server0 = server_cpu.cpu_seconds(server_pids) if server_pids else None
    go.set()
    samples, errors, cpu = [], 0, 0.0
    for _ in procs:
        s, e, c = results.get(timeout=seconds + 120)
        samples += s
        errors += e
        cpu += c
    server = server_cpu.cpu_seconds(server_pids) - server0 if server_pids else None
    for p in procs:
        p.join()
    samples.sort()
    n = len(samples)
    return {"ops": n / seconds, "p50": samples[n // 2] * 1e6,
            "p99": samples[min(n - 1, int(n * 0.99))] * 1e6, "n": n, "errors": errors,
            "client_cpu_us": cpu / max(n, 1) * 1e6,
            "server_cpu_us": None if server is None else server / max(n, 1) * 1e6}


# ---- the run ------------------------------------------------------------------------------------------

def _credentials() -> dict:
    creds = {"aws_access_key_id": os.environ.get("AWS_ACCESS_KEY_ID"),
             "aws_secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY")}
    if os.environ.get("AWS_SESSION_TOKEN"):
        creds["aws_session_token"] = os.environ["AWS_SESSION_TOKEN"]
    if not creds["aws_access_key_id"]:
        import boto3
        found = boto3.session.Session().get_credentials()
        if found is None:
            raise SystemExit("keyplane bench: no AWS credentials (run `keyplane init` and export them)")
        f = found.get_frozen_credentials()
        creds = {"aws_access_key_id": f.access_key, "aws_secret_access_key": f.secret_key}
        if f.token:
            creds["aws_session_token"] = f.token
    return creds


def _prepare(endpoint: str, region: str, creds: dict, ca, key_id: str | None) -> dict:
    """Per-op call arguments for one endpoint (a key, and a ciphertext for Decrypt)."""
    kms = client(endpoint, region, creds, ca)
    key = key_id or kms.create_key(Description="keyplane bench")["KeyMetadata"]["Arn"]
    plaintext = os.urandom(100)
    blob = kms.encrypt(KeyId=key, Plaintext=plaintext)["CiphertextBlob"]
    return {"encrypt": {"KeyId": key, "Plaintext": plaintext},
            "decrypt": {"CiphertextBlob": blob},
            "generate-data-key": {"KeyId": key, "KeySpec": "AES_256"}}


def _prepare_reads(ops: list[str], endpoint: str, region: str, creds: dict, ca) -> dict:
    """A SecureString parameter and a secret, each of 100 characters, for the read ops asked for."""
    out = {}
    run_id = os.urandom(4).hex()
    if "get-parameter" in ops:
        name = f"/keyplane-bench/{run_id}"
        client(endpoint, region, creds, ca, "ssm").put_parameter(Name=name, Value="x" * 100, Type="SecureString")
        out["get-parameter"] = {"Name": name, "WithDecryption": True}
    if "get-secret-value" in ops:
        name = f"keyplane-bench/{run_id}"
        client(endpoint, region, creds, ca, "secretsmanager").create_secret(Name=name, SecretString="x" * 100)
        out["get-secret-value"] = {"SecretId": name}
    return out


def over_http(args, out=print) -> dict:
    ops = [o.strip() for o in args.ops.split(",") if o.strip()]
    unknown = [o for o in ops if o not in CALLS]
    if unknown:
        out(f"keyplane bench: unknown operation(s) {', '.join(unknown)}; choose from {', '.join(CALLS)}")
        return {}
    creds = _credentials()
    targets = [("keyplane", args.endpoint, args.server_pid)]
    if args.compare:
        targets.append(("compare", args.compare, args.compare_pid))
    floor = None
    if args.floor:
        floor, floor_endpoint = start_floor()
        targets.append(("floor", floor_endpoint, [floor.pid]))
    results: dict = {}
    try:
        prepared = {}
        for name, url, _ in targets:
            ca = args.ca_bundle if url.startswith("https") else None
            prepared[name] = {**_prepare(url, args.region, creds, ca, args.key_id if name == "keyplane" else None),
                              **_prepare_reads(ops, url, args.region, creds, ca)}
        out(f"keyplane bench over HTTP: {args.clients} client process(es), 100-byte plaintext, "
            f"{args.seconds:.1f} s each")
        for op in ops:
            for name, url, pids in targets:
                ca = args.ca_bundle if url.startswith("https") else None
                r = run_clients([url], args.region, creds, ca, CALLS[op], prepared[name][op], args.seconds,
                                args.clients, pids)
                results.setdefault(op, {})[name] = r
                errs = f"   errors {r['errors']}" if r["errors"] else ""
                out(line(f"{op}: {name} ({url})", r) + errs)
            mine = results[op]["keyplane"]
            for name in ("compare", "floor"):
                other = results[op].get(name)
                if other and other["ops"]:
                    text = f"{op}: keyplane / {name} = {mine['ops'] / other['ops']:.2f} (calls/s)"
                    if mine["server_cpu_us"] and other["server_cpu_us"]:
                        text += f", {mine['server_cpu_us'] / other['server_cpu_us']:.2f} (server CPU per call)"
                    out(text)
    finally:
        if floor is not None:
            floor.terminate()
            floor.wait(30)
    return results


def line(label: str, r: dict) -> str:
    # the client's own CPU per call: what the machine spends before any server work
    text = (f"{label:<52} {r['ops']:>8,.0f} ops/s   p50 {r['p50']:>8.1f} µs   p99 {r['p99']:>8.1f} µs"
            f"   client CPU {r['client_cpu_us']:>6.0f} µs/op")
    if r["server_cpu_us"] is not None:
        text += f"   server CPU {r['server_cpu_us']:>6.0f} µs/op"
    return text


def run(args) -> int:
    return 0 if over_http(args) else 2
