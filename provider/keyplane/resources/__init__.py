"""The dynamic Pulumi provider: one module per resource on the framework in `base.py`.

Adding a resource takes a schema and a module:

- `schemas/resources/<resource>.schema.json`: the inputs (snake_case, `additionalProperties:
  false`, `default`s, `required`); `check()` reports each violation with its JSON path;
- `keyplane/resources/<resource>.py`: a `base.Provider` subclass (`resource`, `replace_on`,
  `delete_before_replace`, `documents` for embedded policies) with `_create`, `_read`,
  `_update`, `_delete` speaking boto3 through `api` (`api.kms`, `api.ssm`, `api.secretsmanager`),
  and a `base.Resource` subclass naming its computed and secret outputs;
- one line in `keyplane/__init__.py`'s `RESOURCES`, then `python -m keyplane.resources.codegen`
  (from provider/) regenerates `typed.py`, the typed class `keyplane.<Name>` users get (a test
  fails while it is stale).

`lookups.py` holds the data-source functions (`keyplane.get_key`, ...); `lint.py` the preview's
check of policy actions against botocore's models; `values.py` the value and schema helpers.
"""
