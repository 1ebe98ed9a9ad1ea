"""Secrets Manager's error codes and the message texts AWS sends with them, in one place.

Every error is HTTP 400 but the internal fault, which the engine maps. Where AWS's text is
documented or quoted publicly it is used verbatim; a `{}` template is filled by the operation.
"""
from ..errors import AccessDeniedException, MalformedPolicyDocumentException, ValidationException, error_type  # noqa: F401

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
INVALID_NAME = ("Invalid name. Must be a valid name containing alphanumeric characters, or any of the "
                "following: -/_+=.@!")
VALUE_REQUIRED = "You must provide either SecretString or SecretBinary."
TOKEN_REQUIRED = "You must provide a ClientRequestToken value. We recommend a UUID-type value."
TOKEN_IN_USE = "You can't use ClientRequestToken {} because that value is already in use for a version of secret {}."
STAGE_NOT_ON_VERSION = "You provided a VersionStage that is not associated to the provided VersionId."
VERSION_NOT_FOUND = "Secrets Manager can't find the specified secret value for VersionId: {}"
STAGE_NOT_FOUND = "Secrets Manager can't find the specified secret value for staging label: {}"
MARKED_FOR_DELETION = "You can't perform this operation on the secret because it was marked for deletion."
DEFAULT_KEY_CROSS_ACCOUNT = ("You can't access a secret from a different AWS account if you encrypt the "
                             "secret with the default KMS service key.")
# quoted from AWS with a right single quotation mark ("can\u2019t") in older reports
# (hashicorp/terraform-provider-aws, secret_version.go); AWS's texts of the same family are quoted
# with a plain apostrophe since ("A previous rotation isn't complete", once "isn\u2019t"), so this one is too
CURRENT_NOT_REMOVABLE = ("You can only move staging label AWSCURRENT to a different secret version. It can't be "
                         "completely removed.")
