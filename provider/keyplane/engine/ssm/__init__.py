"""AWS Systems Manager Parameter Store: parameters, versions, labels, tags, parameter policies.

`parameters.py` holds the parameter record, name rules and the operations (target `AmazonSSM.`);
`labels.py` the version labels; `tags.py` the tagging operations; `policies.py` the parameter
policies and the scheduler task that enforces them; `references.py` the `/aws/reference/` hook; `settings.py` the service settings (default tier).
"""
