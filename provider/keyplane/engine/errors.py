"""Typed engine errors, named after the AWS error codes, and how each service answers them.

An engine error carries only its code and message. How a service writes it on the wire is data,
kept here in one table per service (`SERVICES`): the HTTP status of every code that is not 400,
the codes AWS sends with no message member at all, the name of the message member and the
service's own internal-error code. The wire layer reads the table (`wire_error`); nothing else
decides a status.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping


class AwsError(Exception):
    """An error a client is meant to see: AWS error code and message (status comes from the table)."""

    code = "InternalFailure"

    def __init__(self, message: str | None = "", *, code: str | None = None):
        """`message` None: this answer has no message member at all, where AWS sends a code alone
        for one case of a code that elsewhere carries text (SSM's ParameterNotFound)."""
        if message is not None:
            message = bounded(message)    # a message may quote the caller's input: never unbounded
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    @property
    def status(self) -> int:
        """The HTTP status AWS answers this code with (one table for every service)."""
        return http_status(self.code)

    @property
    def fault(self) -> bool:
        """The service's own failure (5xx), as opposed to the caller's."""
        return self.status >= 500

    def __str__(self) -> str:  # one clear line: what a user sees
        return f"{self.code}: {self.message}" if self.message else self.code


def error_type(name: str) -> type[AwsError]:
    """A new error class for one AWS error code; service packages declare theirs with it."""
    return type(name, (AwsError,), {"code": name, "__module__": __name__})


@dataclass(frozen=True)
class ServiceErrors:
    """How one service writes errors on the wire."""
    internal: str                       # the code of the service's own unexpected fault
    message_member: str = "message"     # where botocore-era clients read the text
    statuses: Mapping[str, int] = field(default_factory=dict)  # every code not answered with 400
    silent: frozenset = frozenset()     # codes AWS sends with no message member


# Codes every AWS JSON service shares, with the statuses of the services' "Common Errors" pages
# (e.g. https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html): everything a
# caller did wrong is 400 except a missing signature (403); the service's own failures are 5xx.
_COMMON_STATUSES = {"MissingAuthenticationTokenException": 403, "InternalFailure": 500,
                    "ServiceUnavailable": 503}

SERVICES: Mapping[str, ServiceErrors] = MappingProxyType({
    # KMS answers 400 for every client error (NotFound, Disabled, KMSInvalidState, DryRunOperation,
    # AlreadyExists ...); the API reference lists HTTP 500 only for the model's fault shapes
    # (https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html#API_Decrypt_Errors).
    # A failed integrity check says nothing about why: InvalidCiphertext, KMSInvalidSignature and
    # KMSInvalidMac come with no message member.
    "kms": ServiceErrors(
        internal="KMSInternalException",
        statuses={"KMSInternalException": 500, "KeyUnavailableException": 500, "DependencyTimeoutException": 500},
        silent=frozenset({"InvalidCiphertextException", "KMSInvalidSignatureException", "KMSInvalidMacException"})),
    # https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html and each
    # operation's Errors: all 400 but InternalServiceError (500); the member is `Message`.
    "secretsmanager": ServiceErrors(
        internal="InternalServiceError", message_member="Message",
        statuses={"InternalServiceError": 500}),
    # https://docs.aws.amazon.com/systems-manager/latest/APIReference/CommonErrors.html and each
    # operation's Errors: all 400 but InternalServerError (500). InvalidResourceId comes as the code
    # alone (https://github.com/aws/aws-cli/issues/4419); so does a missing parameter's
    # ParameterNotFound, which a /aws/reference/ lookup answers with text (ssm/records.not_found).
    "ssm": ServiceErrors(internal="InternalServerError", statuses={"InternalServerError": 500},
                         silent=frozenset({"InvalidResourceId"})),
    "sts": ServiceErrors(internal="InternalFailure"),
})


def http_status(code: str, service: str | None = None) -> int:
    """The status for `code`: the service's table, then the common codes, else 400. A code's
    status is the same in every service that has it, so without a service every table is read."""
    tables = [SERVICES[service]] if service in SERVICES else SERVICES.values()
    for table in tables:
        if code in table.statuses:
            return table.statuses[code]
    return _COMMON_STATUSES.get(code, 400)


def wire_error(service: str | None, err: AwsError) -> tuple[int, dict]:
    """(HTTP status, JSON body) of `err` as `service` answers it."""
    table = SERVICES.get(service or "")
    body = {"__type": err.code}
    silent = (table is not None and err.code in table.silent) or err.message is None
    if not silent:
        body[table.message_member if table else "message"] = err.message
    return http_status(err.code, service), body


# ---- shared -------------------------------------------------------------------------------
ValidationException = error_type("ValidationException")
SerializationException = error_type("SerializationException")
UnknownOperationException = error_type("UnknownOperationException")
AccessDeniedException = error_type("AccessDeniedException")
UnrecognizedClientException = error_type("UnrecognizedClientException")
InvalidSignatureException = error_type("InvalidSignatureException")
IncompleteSignatureException = error_type("IncompleteSignatureException")
MissingAuthenticationTokenException = error_type("MissingAuthenticationTokenException")
ThrottlingException = error_type("ThrottlingException")

# ---- KMS -------------------------------------------------------------------------------------
NotFoundException = error_type("NotFoundException")
AlreadyExistsException = error_type("AlreadyExistsException")
ConflictException = error_type("ConflictException")
DisabledException = error_type("DisabledException")
KMSInvalidStateException = error_type("KMSInvalidStateException")
DryRunOperationException = error_type("DryRunOperationException")
KMSInternalException = error_type("KMSInternalException")
KeyUnavailableException = error_type("KeyUnavailableException")
DependencyTimeoutException = error_type("DependencyTimeoutException")
InvalidArnException = error_type("InvalidArnException")
InvalidAliasNameException = error_type("InvalidAliasNameException")
InvalidCiphertextException = error_type("InvalidCiphertextException")
IncorrectKeyException = error_type("IncorrectKeyException")
IncorrectKeyMaterialException = error_type("IncorrectKeyMaterialException")
InvalidKeyUsageException = error_type("InvalidKeyUsageException")
InvalidMarkerException = error_type("InvalidMarkerException")
InvalidGrantIdException = error_type("InvalidGrantIdException")
InvalidGrantTokenException = error_type("InvalidGrantTokenException")
InvalidImportTokenException = error_type("InvalidImportTokenException")
ExpiredImportTokenException = error_type("ExpiredImportTokenException")
KMSInvalidMacException = error_type("KMSInvalidMacException")
KMSInvalidSignatureException = error_type("KMSInvalidSignatureException")
LimitExceededException = error_type("LimitExceededException")
MalformedPolicyDocumentException = error_type("MalformedPolicyDocumentException")
TagException = error_type("TagException")
UnsupportedOperationException = error_type("UnsupportedOperationException")
CustomKeyStoreHasCMKsException = error_type("CustomKeyStoreHasCMKsException")
CustomKeyStoreInvalidStateException = error_type("CustomKeyStoreInvalidStateException")
CustomKeyStoreNameInUseException = error_type("CustomKeyStoreNameInUseException")
CustomKeyStoreNotFoundException = error_type("CustomKeyStoreNotFoundException")
CloudHsmClusterNotFoundException = error_type("CloudHsmClusterNotFoundException")
CloudHsmClusterInvalidConfigurationException = error_type("CloudHsmClusterInvalidConfigurationException")
IncorrectTrustAnchorException = error_type("IncorrectTrustAnchorException")


def internal_error(service: str, message: str = "An internal error occurred.") -> AwsError:
    """The service's own fault code (500)."""
    table = SERVICES.get(service)
    return AwsError(message, code=table.internal if table else "InternalFailure")


# A message names at most this many problems, each value cut to this length (AWS's newer services
# leave the value out altogether: "Value at 'x' failed to satisfy constraint: ..."), so a hostile
# request of a million bad elements gets an answer, and an audit record, of a few hundred bytes.
MAX_LISTED_PROBLEMS = 10
MAX_SHOWN_VALUE = 256
MAX_MESSAGE = 4096


def validation_message(problems: list[str]) -> str:
    """AWS's (Coral) wording: '1 validation error detected: Value ... at ... failed to satisfy ...'.
    The count is the real one; only the first few problems are spelled out."""
    n = len(problems)
    return bounded(f"{n} validation error{'s' if n != 1 else ''} detected: "
                   + "; ".join(problems[:MAX_LISTED_PROBLEMS]))


class _Hidden:
    """Stands for a value AWS never shows in a message (a sensitive member's)."""

    def __repr__(self) -> str:
        return "HIDDEN"


HIDDEN = _Hidden()


def constraint_problem(value, member: str, constraint: str) -> str:
    """One problem in AWS's (Coral) wording. A sensitive member's value is not shown at all:
    "Value at 'plaintext' failed to satisfy constraint: ..." (e.g. Encrypt with 4097 bytes,
    https://github.com/adenot/hiera-eyaml-kms/issues/8 quotes AWS's answer), nor is a long one."""
    member = bounded(member, MAX_SHOWN_VALUE)
    if value is HIDDEN:
        return f"Value at '{member}' failed to satisfy constraint: {constraint}"
    if value is None:
        return f"Value null at '{member}' failed to satisfy constraint: {constraint}"
    shown = str(value)
    if len(shown) > MAX_SHOWN_VALUE:
        return f"Value at '{member}' failed to satisfy constraint: {constraint}"
    return f"Value '{shown}' at '{member}' failed to satisfy constraint: {constraint}"


def bounded(text: str, limit: int = MAX_MESSAGE) -> str:
    """`text` cut to `limit` characters (an ellipsis says it was cut)."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def invalid_value(value, member: str, constraint: str) -> AwsError:
    """A ValidationException for one member, worded as AWS words model violations."""
    return ValidationException(validation_message([constraint_problem(value, member, constraint)]))
