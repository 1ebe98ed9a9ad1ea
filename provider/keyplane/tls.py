"""TLS for `keyplane serve --tls`: a local CA and a server certificate it signs, made on first use
into the state folder (the CA's path is printed for AWS_CA_BUNDLE)."""
from __future__ import annotations

from pathlib import Path


def ensure_tls(folder: str, host: str) -> tuple[str, str, str]:
    """(certificate, private key, CA certificate) under `folder`/tls, made on first use: a local CA
    and a server certificate it signs for localhost, 127.0.0.1, ::1 and `host`."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from keyplane.engine.identity import write_private

    tls = Path(folder) / "tls"
    cert_path, key_path, ca_path = tls / "server.pem", tls / "server.key", tls / "ca.pem"
    if cert_path.exists() and key_path.exists() and ca_path.exists():
        return str(cert_path), str(key_path), str(ca_path)
    tls.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)

    def pem_key(k):
        return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption()).decode()

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "keyplane local CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    names: list = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                   x509.IPAddress(ipaddress.ip_address("::1"))]
    if host not in ("0.0.0.0", "::", "localhost", "127.0.0.1", "::1", ""):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "keyplane")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=825))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    write_private(tls / "ca.key", pem_key(ca_key))
    write_private(key_path, pem_key(key))
    ca_path.write_text(ca.public_bytes(serialization.Encoding.PEM).decode())
    cert_path.write_text(cert.public_bytes(serialization.Encoding.PEM).decode()
                         + ca.public_bytes(serialization.Encoding.PEM).decode())
    return str(cert_path), str(key_path), str(ca_path)
