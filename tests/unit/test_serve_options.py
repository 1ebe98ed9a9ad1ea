"""Every `keyplane serve` option also comes from the environment (KEYPLANE_<OPTION>), the flag
winning, and its help names the variable and shows the default; a variable with a value the flag
would refuse stops the command naming the variable (before anything is started or announced).
Walks the parser itself, so an option added later without its variable fails here.

(Configuration by environment is keyplane's own, not an AWS API; the AWS CLI's precedence of a
command-line option over an environment variable is the model followed:
https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-envvars.html)"""
from __future__ import annotations

import argparse

import pytest

from keyplane import cli


def _serve_actions(parser: argparse.ArgumentParser) -> tuple[argparse.ArgumentParser, list[argparse.Action]]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    serve = sub.choices["serve"]
    return serve, [a for a in serve._actions if a.option_strings and a.dest != "help"]


def _variable(action: argparse.Action) -> str:
    return "KEYPLANE_" + action.option_strings[0].lstrip("-").replace("-", "_").upper()


def _sample(action: argparse.Action) -> tuple[str, object]:
    """A value for the variable, and what the parsed option must then be."""
    if isinstance(action, argparse.BooleanOptionalAction):
        return ("yes", True) if not action.default else ("off", False)
    if action.choices:
        value = [c for c in action.choices if c != action.default][-1]
        return value.upper(), value            # KEYPLANE_LOG_LEVEL=INFO is taken as info
    if action.type is int:
        return "4321", 4321
    if action.type is float:
        return "2.5", 2.5
    if action.type is cli._seconds:
        return "6h", 21600
    return "from-env", "from-env"


def test_every_serve_option_has_a_variable_the_flag_beats_and_help_with_its_default(monkeypatch):
    _, actions = _serve_actions(cli.build_parser())
    assert len(actions) >= 25     # host, port, ..., header-timeout: nothing dropped silently
    for action in actions:
        variable = _variable(action)
        help_text = " ".join(action.help.split())
        assert f"env {variable}" in help_text and "default: " in help_text, (action.option_strings, help_text)
        raw, expected = _sample(action)
        monkeypatch.setenv(variable, raw)
        serve, _ = _serve_actions(cli.build_parser())
        args = serve.parse_args([])
        if isinstance(action, argparse._AppendAction):      # --events-webhook: a comma-separated list
            assert getattr(args, action.dest + "_env") == [raw], variable
            assert serve.parse_args([action.option_strings[0], "x"]).events_webhook == ["x"]
        else:
            assert getattr(args, action.dest) == expected, variable
            # the flag wins over the variable
            if isinstance(action, argparse.BooleanOptionalAction):
                flag = action.option_strings[1] if expected else action.option_strings[0]
                assert getattr(serve.parse_args([flag]), action.dest) is (not expected), variable
            elif action.choices:
                assert getattr(serve.parse_args([action.option_strings[0], action.default]),
                               action.dest) == action.default, variable
            else:
                flagged = serve.parse_args([action.option_strings[0], "7"])
                assert getattr(flagged, action.dest) != expected, variable
        monkeypatch.delenv(variable)


def test_help_shows_the_real_defaults(monkeypatch):
    for name in [n for n in __import__("os").environ if n.startswith("KEYPLANE_")]:
        monkeypatch.delenv(name)
    serve, actions = _serve_actions(cli.build_parser())
    helps = {a.option_strings[0]: " ".join(a.help.split()) for a in actions}
    assert helps["--port"].endswith("[env KEYPLANE_PORT; default: 4566]")
    assert helps["--host"].endswith("[env KEYPLANE_HOST; default: 127.0.0.1]")
    assert helps["--log-level"].endswith("default: warning]")
    # the access log's default depends on --dev, and the help says so (it said 'off')
    assert helps["--access-log"].endswith("default: on with --dev, else off]")
    assert helps["--events-webhook"].endswith("default: none]")


@pytest.mark.parametrize("variable, value, said", [
    ("KEYPLANE_LOG_LEVEL", "verbose", "KEYPLANE_LOG_LEVEL='verbose' is not one of critical, error, warning"),
    ("KEYPLANE_LOG_FORMAT", "yaml", "KEYPLANE_LOG_FORMAT='yaml' is not one of text, json"),
    ("KEYPLANE_DEV", "maybe", "KEYPLANE_DEV='maybe' is not on or off"),
    ("KEYPLANE_PORT", "http", "KEYPLANE_PORT='http' is not a valid value for --port"),
    ("KEYPLANE_AUDIT_RETENTION", "soon", "KEYPLANE_AUDIT_RETENTION='soon' is not a valid value"),
])
def test_a_bad_variable_stops_the_command_naming_it(monkeypatch, capsys, variable, value, said):
    """A bad KEYPLANE_LOG_LEVEL used to pass unchecked: the server announced itself, then died with
    'Unable to configure logger'; a bad KEYPLANE_DEV was silently off; a bad KEYPLANE_PORT was a
    traceback from `keyplane init`."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as stopped:
        cli.main(["serve", "--dev"])
    assert stopped.value.code == 2
    assert said in capsys.readouterr().err
