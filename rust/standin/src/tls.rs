//! `--tls-dir`: a throwaway CA and a server certificate for `127.0.0.1` and `localhost`, made at
//! start. The CA goes to `DIR/ca.pem` (for clients to trust); the listeners serve HTTPS with
//! rustls. Nothing is read back: every start makes new keys.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// The file name of the CA certificate in the TLS directory.
pub const CA_FILE: &str = "ca.pem";

/// The names the server certificate is valid for.
const SERVER_NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// What `--tls-dir` made: the acceptor for the listeners and where the CA was written.
#[derive(Clone)]
pub struct Tls {
    pub acceptor: TlsAcceptor,
    pub ca_file: PathBuf,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

/// The CA and the server certificate, DER and PEM.
struct Generated {
    ca_pem: String,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: PrivateKeyDer<'static>,
}

fn generate() -> Result<Generated, rcgen::Error> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name = name("sentry-standin test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key)?;

    let server_key = KeyPair::generate()?;
    let mut server = CertificateParams::default();
    server.distinguished_name = name("sentry-standin");
    server.subject_alt_names = SERVER_NAMES
        .iter()
        .map(|n| match n.parse() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => n.to_string().try_into().map(SanType::DnsName),
        })
        .collect::<Result<_, _>>()?;
    server.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server.signed_by(&server_key, &ca_cert, &ca_key)?;

    Ok(Generated {
        ca_pem: ca_cert.pem(),
        server_chain: vec![server_cert.der().clone()],
        server_key: PrivatePkcs8KeyDer::from(server_key.serialize_der()).into(),
    })
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "sentry-standin");
    dn.push(DnType::CommonName, common_name);
    dn
}

/// Makes the certificates, writes `dir/ca.pem` (creating `dir` if needed) and builds the
/// acceptor. HTTP/2 and HTTP/1.1 are offered by ALPN.
pub fn setup(dir: &Path) -> Result<Tls, String> {
    let generated = generate().map_err(|e| format!("cannot make certificates: {e}"))?;
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let ca_file = dir.join(CA_FILE);
    fs::write(&ca_file, &generated.ca_pem)
        .map_err(|e| format!("cannot write {}: {e}", ca_file.display()))?;
    // Absolute, so that the path in the start-up line works from any directory.
    let ca_file = fs::canonicalize(&ca_file).unwrap_or(ca_file);

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| {
            b.with_no_client_auth()
                .with_single_cert(generated.server_chain, generated.server_key)
        })
        .map_err(|e| format!("cannot set up TLS: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Tls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        ca_file,
    })
}

#[cfg(test)]
mod tests {
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::pem::PemObject;

    use super::*;

    #[test]
    fn writes_a_ca_that_verifies_the_server_certificate() {
        let dir = std::env::temp_dir().join(format!("standin-tls-unit-{}", std::process::id()));
        let tls = setup(&dir).expect("setup");
        let pem = fs::read_to_string(&tls.ca_file).expect("ca.pem");
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        assert!(tls.ca_file.is_absolute());

        // The server certificate chains to the CA for both names, as a client checks it.
        let generated = generate().expect("generate");
        let ca_der = rustls::pki_types::CertificateDer::from_pem_slice(generated.ca_pem.as_bytes())
            .expect("ca der");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca_der).expect("root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("verifier");
        for host in SERVER_NAMES {
            let name = rustls::pki_types::ServerName::try_from(host).expect("name");
            verifier
                .verify_server_cert(
                    &generated.server_chain[0],
                    &[],
                    &name,
                    &[],
                    rustls::pki_types::UnixTime::now(),
                )
                .unwrap_or_else(|e| panic!("{host}: {e}"));
        }
        let other = rustls::pki_types::ServerName::try_from("example.com").expect("name");
        assert!(verifier
            .verify_server_cert(
                &generated.server_chain[0],
                &[],
                &other,
                &[],
                rustls::pki_types::UnixTime::now()
            )
            .is_err());
        let _ = fs::remove_dir_all(&dir);
    }
}
