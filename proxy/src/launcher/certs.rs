//! A tiny throwaway PKI for tests and the demo: one CA and one server
//! certificate signed by it, written out as PEM files.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// Paths (and the CA PEM text) of a generated CA + server certificate pair.
#[derive(Clone, Debug)]
pub struct TestPki {
    /// Directory holding all generated files.
    pub dir: PathBuf,
    /// PEM file of the self-signed CA certificate (use as `sslrootcert`).
    pub ca_cert: PathBuf,
    /// PEM file of the server certificate, signed by the CA.
    pub server_cert: PathBuf,
    /// PEM file of the server private key (PKCS#8, mode 0600).
    pub server_key: PathBuf,
    /// The CA certificate as PEM text, for building in-memory trust stores.
    pub ca_pem: String,
}

impl TestPki {
    /// Generates a CA and a server certificate valid for `hostnames` into `dir`.
    ///
    /// Entries of `hostnames` that parse as IP addresses become IP SANs, the
    /// rest DNS SANs. The first hostname is also used as the subject CN.
    /// Files written: `ca.crt`, `ca.key`, `server.crt`, `server.key`.
    pub fn generate(dir: &Path, hostnames: &[&str]) -> Result<TestPki> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;

        let ca_key = KeyPair::generate().context("generating CA key")?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())
            .context("building CA certificate params")?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "sluice test CA");
        ca_params
            .distinguished_name
            .push(DnType::OrganizationName, "sluice");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        // Fixed, generous validity: clock skew between test machines must
        // never make a freshly generated cert "not yet valid".
        ca_params.not_before = date_time_ymd(2020, 1, 1);
        ca_params.not_after = date_time_ymd(2099, 1, 1);
        let ca_cert = ca_params
            .self_signed(&ca_key)
            .context("self-signing CA certificate")?;
        let ca_pem = ca_cert.pem();
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().context("generating server key")?;
        let sans: Vec<String> = hostnames.iter().map(|h| h.to_string()).collect();
        let mut params = CertificateParams::new(sans)
            .with_context(|| format!("invalid server hostnames {hostnames:?}"))?;
        params.distinguished_name.push(
            DnType::CommonName,
            hostnames.first().copied().unwrap_or("localhost"),
        );
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2099, 1, 1);
        let server_cert = params
            .signed_by(&server_key, &issuer)
            .context("signing server certificate")?;

        let pki = TestPki {
            dir: dir.to_path_buf(),
            ca_cert: dir.join("ca.crt"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
            ca_pem,
        };
        write_file(&pki.ca_cert, pki.ca_pem.as_bytes(), 0o644)?;
        write_file(
            &dir.join("ca.key"),
            issuer.key().serialize_pem().as_bytes(),
            0o600,
        )?;
        write_file(&pki.server_cert, server_cert.pem().as_bytes(), 0o644)?;
        // PostgreSQL refuses to start if the key is group/world readable.
        write_file(
            &pki.server_key,
            server_key.serialize_pem().as_bytes(),
            0o600,
        )?;
        Ok(pki)
    }
}

fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    // Create with the final mode so a private key is never briefly readable.
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(contents)
        .with_context(|| format!("writing {}", path.display()))?;
    // `mode` only applies on creation; enforce it for pre-existing files too.
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))
}
