// Drives a keyplane endpoint with the AWS SDK for JavaScript v3 through the three services' main
// calls and their common errors, and prints what the SDK saw as JSON lines for the Python test.
// Endpoint and credentials come from AWS_ENDPOINT_URL / AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
import { KMSClient, CreateKeyCommand, EncryptCommand, DecryptCommand, GenerateDataKeyCommand,
         DescribeKeyCommand, CreateAliasCommand, ListAliasesCommand, DisableKeyCommand } from "@aws-sdk/client-kms";
import { SSMClient, PutParameterCommand, GetParameterCommand, GetParametersByPathCommand } from "@aws-sdk/client-ssm";
import { SecretsManagerClient, CreateSecretCommand, GetSecretValueCommand, PutSecretValueCommand,
         DescribeSecretCommand } from "@aws-sdk/client-secrets-manager";
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";

const config = { region: "us-east-1", endpoint: process.env.AWS_ENDPOINT_URL, maxAttempts: 1 };
const kms = new KMSClient(config), ssm = new SSMClient(config);
const sm = new SecretsManagerClient(config), sts = new STSClient(config);
const out = (name, value) => console.log(JSON.stringify({ name, ...value }));

async function expectError(name, promise) {
  try {
    await promise;
    out(name, { ok: true });
  } catch (e) {
    out(name, { ok: false, error: e.name, status: e.$metadata?.httpStatusCode, message: e.message,
                fault: e.$fault });
  }
}

const te = new TextEncoder(), td = new TextDecoder();
const key = (await kms.send(new CreateKeyCommand({ Description: "from javascript" }))).KeyMetadata;
out("CreateKey", { keyId: key.KeyId, arn: key.Arn, state: key.KeyState, created: key.CreationDate instanceof Date });
await kms.send(new CreateAliasCommand({ AliasName: "alias/js", TargetKeyId: key.KeyId }));
const aliases = (await kms.send(new ListAliasesCommand({}))).Aliases.map(a => a.AliasName);
out("ListAliases", { aliases });
const enc = await kms.send(new EncryptCommand({ KeyId: "alias/js", Plaintext: te.encode("hello from js"),
                                                EncryptionContext: { app: "js" } }));
const dec = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { app: "js" } }));
out("Decrypt", { plaintext: td.decode(dec.Plaintext), keyId: dec.KeyId });
const dk = await kms.send(new GenerateDataKeyCommand({ KeyId: key.KeyId, KeySpec: "AES_256" }));
out("GenerateDataKey", { plaintextLength: dk.Plaintext.length, blobLength: dk.CiphertextBlob.length });
await expectError("DecryptWrongContext", kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob,
                                                                       EncryptionContext: { app: "other" } })));
await expectError("DescribeMissingKey", kms.send(new DescribeKeyCommand({ KeyId: "11111111-2222-3333-4444-555555555555" })));
await kms.send(new DisableKeyCommand({ KeyId: key.KeyId }));
await expectError("EncryptDisabled", kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: te.encode("x") })));
await expectError("EncryptTooLong", kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: new Uint8Array(4097) })));

await ssm.send(new PutParameterCommand({ Name: "/js/db/host", Value: "db.internal", Type: "String" }));
await ssm.send(new PutParameterCommand({ Name: "/js/db/password", Value: "s3cret", Type: "SecureString" }));
const p = (await ssm.send(new GetParameterCommand({ Name: "/js/db/password", WithDecryption: true }))).Parameter;
out("GetParameter", { value: p.Value, type: p.Type, version: p.Version });
const byPath = (await ssm.send(new GetParametersByPathCommand({ Path: "/js/db" }))).Parameters.map(x => x.Name).sort();
out("GetParametersByPath", { names: byPath });
await expectError("GetMissingParameter", ssm.send(new GetParameterCommand({ Name: "/js/none" })));
await expectError("PutExistingParameter", ssm.send(new PutParameterCommand({ Name: "/js/db/host", Value: "x", Type: "String" })));

const created = await sm.send(new CreateSecretCommand({ Name: "js/app", SecretString: "v1" }));
await sm.send(new PutSecretValueCommand({ SecretId: "js/app", SecretString: "v2" }));
const got = await sm.send(new GetSecretValueCommand({ SecretId: "js/app" }));
out("GetSecretValue", { value: got.SecretString, stages: got.VersionStages, arn: created.ARN });
const described = await sm.send(new DescribeSecretCommand({ SecretId: created.ARN }));
out("DescribeSecret", { secretName: described.Name, versions: Object.keys(described.VersionIdsToStages).length });
await expectError("GetMissingSecret", sm.send(new GetSecretValueCommand({ SecretId: "js/none" })));
await expectError("CreateExistingSecret", sm.send(new CreateSecretCommand({ Name: "js/app", SecretString: "x" })));

const me = await sts.send(new GetCallerIdentityCommand({}));
out("GetCallerIdentity", { account: me.Account, arn: me.Arn });
