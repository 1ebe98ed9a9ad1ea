"""`keyplane bench`: every benchmark mode, chosen by `command.run` from the command line.

    command.py    the options and the choice of mode (nothing else picks one)
    measure.py    how a call is timed and a result printed (every mode uses it)
    kms.py        default: Encrypt / Decrypt / GenerateDataKey in-process, beside raw AES-GCM
    over_http.py  --endpoint URL [--compare URL] [--floor]: boto3 client processes over HTTP
    scale.py      --scale POSTGRES_URL: 1, 2, 3 servers on one PostgreSQL database (Encrypt, PutParameter)
    floor.py      the canned-response server --floor starts
    policy.py     --policy-statements N: Encrypt under a large key policy vs the default one
    secrets.py    --secrets: GetSecretValue
    sign.py       --sign: Sign / Verify of RSA and ECC keys
    ssm.py        --ssm: GetParametersByPath in a big store, GetParameter(WithDecryption)
"""
