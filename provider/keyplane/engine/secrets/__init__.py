"""AWS Secrets Manager: secrets, their versions and staging labels, resource policies, rotation,
deletion windows and Region replicas (target `secretsmanager.<Op>`)."""
