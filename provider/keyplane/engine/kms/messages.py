"""KMS's message texts, in AWS's words, in one place.

Each is a `str.format` template. Where AWS's text is quoted publicly the source is named; the
status and message presence of each code are in `engine.errors.SERVICES["kms"]`.
"""

# key lookup (`Key '<arn>' does not exist` and `Invalid arn <region>` are quoted in AWS answers
# in hashicorp/boundary-reference-architecture#22 and nakedible/openssl-engine-kms#1; a KeyId that
# is neither an id, an ARN nor an alias: "NotFoundException: Invalid keyId testkmskey", AWS's answer
# quoted in crossplane-contrib/provider-aws#1056, the value as given, unquoted)
KEY_NOT_FOUND = "Key '{arn}' does not exist"
ALIAS_NOT_FOUND = "Alias {arn} is not found."
INVALID_KEY_ID = "Invalid keyId {key_id}"
ARN_IN_OTHER_REGION = "Invalid arn {region}"
ALIASES_NOT_SUPPORTED = "Key Aliases are not supported for this operation."

# Decrypt / ReEncrypt (CIPHERTEXT_KEY_UNKNOWN: AccessDeniedException, quoted with "Status Code: 400;
# Error Code: AccessDeniedException" in Droplr/aws-env#29 and aws/aws-encryption-sdk-javascript#1005)
CIPHERTEXT_KEY_UNKNOWN = ("The ciphertext refers to a customer master key that does not exist, does not exist in "
                          "this region, or you are not allowed to access.")
INCORRECT_KEY = "The key ID in the request does not identify a KMS key that can perform this operation."

# key state and fitness
DISABLED = "{arn} is disabled."
WRONG_KEY_USAGE = "{arn} key usage is {usage} which is not valid for {operation}."
WRONG_ALGORITHM = "Algorithm {algorithm} is incompatible with key spec {key_spec}."
DRY_RUN = "The request would have succeeded, but the DryRun option is set."

# CreateKey
KEY_USAGE_REQUIRED = "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."
# a SYMMETRIC_DEFAULT key with another usage: "ValidationException: The operation failed because the
# KeyUsage value of the CMK is SIGN_VERIFY. To perform this operation, the KeyUsage value must be
# ENCRYPT_DECRYPT." (AWS's answer to CreateKey with KeyUsage SIGN_VERIFY and the default spec, quoted
# in aws/aws-sdk#125); other specs' refusals are keyplane's words
SYMMETRIC_KEY_USAGE = ("The operation failed because the KeyUsage value of the CMK is {usage}. To perform this "
                       "operation, the KeyUsage value must be ENCRYPT_DECRYPT.")
KEY_USAGE_NOT_COMPATIBLE = "KeyUsage {usage} is not compatible with KeySpec {spec}"

# GenerateRandom without NumberOfBytes (optional in the model, required by the service), and
# GenerateDataKey(WithoutPlaintext) with neither or both of NumberOfBytes and KeySpec: AWS's answer to
# a GenerateRandom with an empty body, "Please specify either number of bytes or key spec.", as
# reported from real KMS in nsmithuk/local-kms#6 (and AWS forum thread 302700 it links)
DATA_SIZE_REQUIRED = "Please specify either number of bytes or key spec."

# an operation a key's origin does not allow: "UnsupportedOperationException: arn:aws:kms:...:key/...
# origin is EXTERNAL which is not valid for this operation." (GetKeyRotationStatus on a key with
# imported material, AWS's answer quoted in ansible-collections/community.aws#311,
# duo-labs/cloudmapper#906 and prowler-cloud/prowler#1835)
ORIGIN_NOT_VALID = "{arn} origin is {origin} which is not valid for this operation."

# RSA encryption (limits: https://docs.aws.amazon.com/kms/latest/developerguide/asymmetric-key-specs.html)
RSA_PLAINTEXT_TOO_LONG = "Algorithm {algorithm} and key spec {key_spec} cannot encrypt data larger than {limit} bytes."

# tags (https://docs.aws.amazon.com/kms/latest/developerguide/tagging-keys.html)
TOO_MANY_TAGS = "Too many tags"
DUPLICATE_TAG_KEYS = "Duplicate tag keys"
RESERVED_TAG_PREFIX = "Tags beginning with aws: are reserved"

# alias names (quoted in hashicorp/terraform-provider-aws#12891)
ALIAS_PREFIX_REQUIRED = ('Alias must start with the prefix "alias/". Please see '
                         "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html")
ALIAS_INVALID_CHARACTERS = "{name} contains invalid characters for an alias"

# key policies: the refusals AWS added on 18 August 2025 (its wording is not published)
POLICY_STATEMENT_WITHOUT_ACTION = "Policy contains a statement without an Action or NotAction element."
POLICY_STATEMENT_RESOURCE = 'Policy contains a statement without a Resource element of "*".'
# AWS's sentence; keyplane goes on to name the principal and where principals come from
# (kms/policies.py), since here they come from identities.yaml, not IAM
INVALID_PRINCIPALS = "Policy contains a statement with one or more invalid principals."
# CreateGrant with Operations ["CreateGrant"] alone: AWS's answer quoted in ansible/ansible#31960
# ("ValidationException ... Grants must not contain only the CreateGrant operation.")
GRANT_ONLY_CREATE_GRANT = "Grants must not contain only the CreateGrant operation."
INVALID_MARKER = "The marker that specifies where pagination should next begin is not valid."

# Sign / Verify with an Ed25519 algorithm and the other MessageType: AWS answers ValidationException
# "Message type RAW is incompatible ..." for ED25519_PH_SHA_512 with RAW (real KMS, ap-northeast-1, as
# reported in floci-io/floci#2924; the rest of AWS's sentence is not quoted there, so it is keyplane's)
MESSAGE_TYPE_INCOMPATIBLE = ("Message type {message_type} is incompatible with signing algorithm {algorithm}: "
                             "it requires MessageType {required}.")
