"""keyplane: a self-hosted key management plane."""
