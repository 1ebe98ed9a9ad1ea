"""AWS Systems Manager Parameter Store: parameters, versions, labels, tags, parameter policies.

`names.py` holds the name rules, `datatypes.py` the values each DataType takes; `records.py` the parameter rows and how a read resolves a version;
`securestring.py` KMS encryption of values; `parameters.py` PutParameter, the reads and deletes by
name (target `AmazonSSM.`); `listing.py` the paged reads (by path, DescribeParameters, history);
`labels.py` the version labels; `tags.py` the tagging operations; `policies.py` the parameter
policies and the scheduler task that enforces them; `references.py` the `/aws/reference/` hook;
`settings.py` the service settings (default tier).
"""
