"""The key engine: AWS KMS, SSM Parameter Store, Secrets Manager and STS semantics, with no
knowledge of HTTP, boto3 or Pulumi (the wire, connection, resources, cli and server import it,
never the other way).

Layers, each importing only those below it: `core` (Engine: stores per Region, root keys, audit,
`invoke`, `run_due`) → `services` (the operation modules, scheduled tasks and table modules it
serves, named in one place) → the services `kms/`, `ssm/`, `secrets/`, `sts/` → `authz`/`policy`
→ `calls` (RequestContext, Call), `registry` (@operation marks), `store/`, `sealing`, `crypto`,
`identity`, `audit`, `events`, `scheduler`, `clock`.

A call: `Engine.invoke` finds the operation in `services.OPERATIONS` and runs it with a `Call` in
one transaction; the operation's function shows, in AWS's check order, every check it makes and
every module it calls, by name. To add an operation, decorate it with `@operation(service, name)`
and, if its module is new, list the module in `services.SERVICES`. docs/architecture.md says more.
"""
