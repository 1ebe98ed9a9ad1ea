"""Secrets Manager's error codes (all 400 but the internal fault, which the engine maps)."""
from ..errors import AccessDeniedException, MalformedPolicyDocumentException, error_type  # noqa: F401

ResourceNotFoundException = error_type("ResourceNotFoundException")
ResourceExistsException = error_type("ResourceExistsException")
InvalidParameterException = error_type("InvalidParameterException")
InvalidRequestException = error_type("InvalidRequestException")
InvalidNextTokenException = error_type("InvalidNextTokenException")
LimitExceededException = error_type("LimitExceededException")
EncryptionFailure = error_type("EncryptionFailure")
DecryptionFailure = error_type("DecryptionFailure")
PublicPolicyException = error_type("PublicPolicyException")
PreconditionNotMetException = error_type("PreconditionNotMetException")

NOT_FOUND = "Secrets Manager can't find the specified secret."
