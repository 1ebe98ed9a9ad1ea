"""AWS STS: who am I (GetCallerIdentity) and role sessions (AssumeRole).

Temporary credentials live in the store (`sts_sessions`, secret and token sealed under the root key)
so that every server process, whichever handled the AssumeRole, verifies the session's requests;
`sessions.lookup_for(engine)` is the source `Identities` consults for ASIA keys.
"""
