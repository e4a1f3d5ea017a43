//! HTTPS for every listener: a certificate and key from the config, or a
//! development certificate made on first start and kept in the data
//! directory (a CA in `tls/ca.pem` that clients can trust, and a leaf for
//! localhost, 127.0.0.1, ::1 and the configured public host). rustls on
//! aws-lc-rs terminates TLS (listener.rs serves the connections).

use std::path::Path;
use std::sync::Arc;

use cognate_config::Tls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The server configuration for a TLS setting.
pub fn server_config(
    tls: &Tls,
    data_dir: &Path,
    extra_host: Option<&str>,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let (cert_pem, key_pem) = match tls {
        Tls::Files {
            cert_file,
            key_file,
        } => (
            std::fs::read(cert_file).map_err(|e| format!("cannot read {cert_file}: {e}"))?,
            std::fs::read(key_file).map_err(|e| format!("cannot read {key_file}: {e}"))?,
        ),
        Tls::Development => {
            let mut names = vec![
                "localhost".to_string(),
                "127.0.0.1".to_string(),
                "::1".to_string(),
            ];
            if let Some(h) = extra_host.filter(|h| !names.iter().any(|n| n == h)) {
                names.push(h.to_string());
            }
            development_certificate(&data_dir.join("tls"), names)?
        }
    };
    from_pem(&cert_pem, &key_pem)
}

/// A server configuration from a PEM chain and key.
pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<rustls::ServerConfig>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the TLS certificate is not PEM: {e}"))?;
    if chain.is_empty() {
        return Err("the TLS certificate file holds no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| format!("the TLS key is not a PEM private key: {e}"))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| format!("the TLS certificate and key do not fit: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Reads the development certificate kept in `dir`, making it (and its CA,
/// `dir/ca.pem`) the first time, for `names` (host names, `*.` wildcards,
/// IP addresses).
pub fn development_certificate(
    dir: &Path,
    names: Vec<String>,
) -> Result<(Vec<u8>, Vec<u8>), String> {
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    if cert_path.exists() && key_path.exists() {
        let read =
            |p: &Path| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
        return Ok((read(&cert_path)?, read(&key_path)?));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let fail = |e: rcgen::Error| format!("cannot make a development certificate: {e}");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "cognate development CA");
    let ca_key = rcgen::KeyPair::generate().map_err(fail)?;
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).map_err(fail)?;
    let mut leaf_params = rcgen::CertificateParams::new(names).map_err(fail)?;
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "cognate development certificate");
    leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = rcgen::KeyPair::generate().map_err(fail)?;
    let leaf = leaf_params.signed_by(&leaf_key, &ca).map_err(fail)?;
    let chain = format!("{}{}", leaf.pem(), ca.pem());
    let write = |p: &Path, text: &str| -> Result<(), String> {
        crate::binding::write_atomically(p, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if p.extension().is_some_and(|e| e == "pem")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().contains("key"))
            {
                let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600));
            }
        }
        Ok(())
    };
    write(&dir.join("ca.pem"), &ca.pem())?;
    write(&key_path, &leaf_key.serialize_pem())?;
    write(&cert_path, &chain)?;
    tracing::info!(ca = %dir.join("ca.pem").display(), "made a development TLS certificate; trust this CA in clients");
    Ok((chain.into_bytes(), leaf_key.serialize_pem().into_bytes()))
}
