"""Typed engine errors, named after the AWS error codes.

The wire layer turns an `AwsError` into the AWS error body (`__type`, message) and HTTP status;
nothing else ever reaches a client. Each service has its own message member name and its own
internal-error code, so an error carries only its code, message and status; the service decides
the rest at the boundary.
"""
from __future__ import annotations


class AwsError(Exception):
    """An error a client is meant to see: AWS error code, message, HTTP status."""

    code = "InternalFailure"
    status = 400

    def __init__(self, message: str = "", *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def __str__(self) -> str:  # one clear line: what a user sees
        return f"{self.code}: {self.message}" if self.message else self.code


def error_type(name: str, status: int = 400) -> type[AwsError]:
    """A new error class for one AWS error code; service packages declare theirs with it."""
    return type(name, (AwsError,), {"code": name, "status": status, "__module__": __name__})


# ---- shared -------------------------------------------------------------------------------
ValidationException = error_type("ValidationException")
SerializationException = error_type("SerializationException")
UnknownOperationException = error_type("UnknownOperationException")
AccessDeniedException = error_type("AccessDeniedException")
UnrecognizedClientException = error_type("UnrecognizedClientException")
InvalidSignatureException = error_type("InvalidSignatureException")
IncompleteSignatureException = error_type("IncompleteSignatureException")
MissingAuthenticationTokenException = error_type("MissingAuthenticationTokenException", 403)
ThrottlingException = error_type("ThrottlingException")

# ---- KMS (HTTP statuses from the Smithy httpError traits) ----------------------------------
NotFoundException = error_type("NotFoundException", 404)
AlreadyExistsException = error_type("AlreadyExistsException", 409)
ConflictException = error_type("ConflictException", 409)
DisabledException = error_type("DisabledException", 409)
KMSInvalidStateException = error_type("KMSInvalidStateException", 409)
DryRunOperationException = error_type("DryRunOperationException", 412)
KMSInternalException = error_type("KMSInternalException", 500)
KeyUnavailableException = error_type("KeyUnavailableException", 500)
DependencyTimeoutException = error_type("DependencyTimeoutException", 503)
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
    code = {"kms": "KMSInternalException", "ssm": "InternalServerError",
            "secretsmanager": "InternalServiceError", "sts": "InternalFailure"}.get(service, "InternalFailure")
    return AwsError(message, code=code, status=500)


def validation_message(problems: list[str]) -> str:
    """AWS's (Coral) wording: '1 validation error detected: Value ... at ... failed to satisfy ...'."""
    n = len(problems)
    return f"{n} validation error{'s' if n != 1 else ''} detected: " + "; ".join(problems)


def constraint_problem(value, member: str, constraint: str) -> str:
    shown = "null" if value is None else f"'{value}'"
    return f"Value {shown} at '{member}' failed to satisfy constraint: {constraint}"


def invalid_value(value, member: str, constraint: str) -> AwsError:
    """A ValidationException for one member, worded as AWS words model violations."""
    return ValidationException(validation_message([constraint_problem(value, member, constraint)]))
