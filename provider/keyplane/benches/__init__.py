"""Bench modes beyond the KMS hot path: each module here adds its options to `keyplane bench`
through `bench.ARGUMENT_HOOKS` and takes over `run` through `bench.RUN_HOOKS` when chosen."""
