//! OIDC/JWT sign-in end to end, both protocols: a test identity provider (an RSA and an EC key
//! generated here, published as a JWKS file) signs tokens; a valid one signs in and its groups
//! drive a mask exemption and a rule; forged, expired, foreign and downgraded tokens are
//! refused; a token over plaintext is refused; a session outliving its token finishes its
//! running statement and ends at the next one.

use std::sync::OnceLock;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use mysql_async::prelude::*;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use sluice_tests::*;

const ISSUER: &str = "https://idp.test/";
const AUDIENCE: &str = "sluice";
const SUPPORT: &str = "dana@example.com";
const CONTRACTOR: &str = "erin@example.com";
const SECRET: &str = "the-clear-secret";

/// The test identity provider's keys.
struct Idp {
    rsa_private: String,
    rsa_public: String,
    /// Another RSA key, not in the JWKS, for forged signatures.
    stranger: String,
    ec_private: Vec<u8>,
    jwks: String,
}

fn idp() -> &'static Idp {
    static IDP: OnceLock<Idp> = OnceLock::new();
    IDP.get_or_init(|| {
        let mut rng = rsa::rand_core::OsRng;
        let key = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let stranger = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let pem = |k: &rsa::RsaPrivateKey| k.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        let public = key.to_public_key();
        let ring_rng = ring::rand::SystemRandom::new();
        let alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let ec = ring::signature::EcdsaKeyPair::generate_pkcs8(alg, &ring_rng).unwrap();
        let pair = ring::signature::EcdsaKeyPair::from_pkcs8(alg, ec.as_ref(), &ring_rng).unwrap();
        use ring::signature::KeyPair;
        let point = pair.public_key().as_ref().to_vec();
        let jwks = serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256",
             "n": B64.encode(public.n().to_bytes_be()), "e": B64.encode(public.e().to_bytes_be())},
            {"kty": "EC", "kid": "ec-1", "use": "sig", "alg": "ES256", "crv": "P-256",
             "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65])}
        ]});
        Idp {
            rsa_private: pem(&key),
            rsa_public: public.to_public_key_pem(LineEnding::LF).unwrap(),
            stranger: pem(&stranger),
            ec_private: ec.as_ref().to_vec(),
            jwks: jwks.to_string(),
        }
    })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(user: &str, groups: &[&str], exp_in: i64) -> serde_json::Value {
    serde_json::json!({"iss": ISSUER, "aud": AUDIENCE, "email": user, "groups": groups,
                       "iat": now(), "exp": now() + exp_in})
}

fn sign(claims: &serde_json::Value) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("rsa-1".into());
    encode(
        &h,
        claims,
        &EncodingKey::from_rsa_pem(idp().rsa_private.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn token(user: &str, groups: &[&str]) -> String {
    sign(&claims(user, groups, 600))
}

/// Every way a token must be refused, by name.
fn bad_tokens() -> Vec<(&'static str, String)> {
    let i = idp();
    let mut wrong_aud = claims(SUPPORT, &["support"], 600);
    wrong_aud["aud"] = "another-service".into();
    let mut wrong_iss = claims(SUPPORT, &["support"], 600);
    wrong_iss["iss"] = "https://evil.test/".into();
    let mut rsa_header = Header::new(Algorithm::RS256);
    rsa_header.kid = Some("rsa-1".into());
    let forged = encode(
        &rsa_header,
        &claims(SUPPORT, &["support"], 600),
        &EncodingKey::from_rsa_pem(i.stranger.as_bytes()).unwrap(),
    )
    .unwrap();
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("rsa-1".into());
    let hs256_with_public_key = encode(
        &hs,
        &claims(SUPPORT, &["support"], 600),
        &EncodingKey::from_secret(i.rsa_public.as_bytes()),
    )
    .unwrap();
    let none = format!(
        "{}.{}.",
        B64.encode(br#"{"alg":"none","typ":"JWT","kid":"rsa-1"}"#),
        B64.encode(claims(SUPPORT, &["support"], 600).to_string())
    );
    let tampered = {
        let good = token(CONTRACTOR, &["contractors"]);
        let parts: Vec<&str> = good.split('.').collect();
        let body = B64.encode(claims(CONTRACTOR, &["support"], 600).to_string());
        format!("{}.{body}.{}", parts[0], parts[2])
    };
    vec![
        ("expired", sign(&claims(SUPPORT, &["support"], -600))),
        ("wrong audience", sign(&wrong_aud)),
        ("wrong issuer", sign(&wrong_iss)),
        ("bad signature", forged),
        ("tampered claims", tampered),
        ("alg=none", none),
        ("HS256 keyed with the public key", hs256_with_public_key),
        ("another user's token", token(CONTRACTOR, &["support"])),
    ]
}

fn opts(schema: &str, grace: &str) -> ProxyOpts {
    let dir = tempfile::tempdir().unwrap().keep();
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, &idp().jwks).unwrap();
    ProxyOpts {
        client_tls: Some(false),
        server_extra: "admin_groups = [\"support\"]\n".into(),
        extra_config: format!(
            r#"
[jwt]
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
jwks_file = {jwks:?}
user_claim = "email"
groups_claim = "groups"
session_grace = "{grace}"

[[masks]]
columns = ["{schema}.people.secret"]
function = "redact"
except_groups = ["support"]

[[rules]]
name = "contractors-read-only"
when = {{ groups = ["contractors"], statements = ["write"] }}
action = "block"
message = "contractors may only read"
"#
        ),
        ..ProxyOpts::default()
    }
}

async fn pg_token(
    proxy: &Proxy,
    user: &str,
    token: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(client_tls_config(&proxy.ca_file()));
    let (c, conn) =
        tokio_postgres::connect(&proxy.conn_str(user, token, "sslmode=require"), tls).await?;
    tokio::spawn(conn);
    Ok(c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_tokens_sign_in_and_their_groups_apply() {
    let upstream = pg_scram();
    let schema = unique("jwt");
    let direct = pg_direct(upstream).await;
    direct
        .batch_execute(&format!(
            "CREATE SCHEMA {schema}; CREATE TABLE {schema}.people (name text, secret text); INSERT INTO {schema}.people VALUES ('x', '{SECRET}')"
        ))
        .await
        .unwrap();
    let proxy = Proxy::start(upstream, opts(&schema, "5m")).await;
    let select = format!("SELECT secret FROM {schema}.people WHERE name = 'x'");

    // support is exempt from the mask; contractors are masked and may not write.
    let support = pg_token(&proxy, SUPPORT, &token(SUPPORT, &["support"]))
        .await
        .unwrap();
    let v: String = support.query_one(&select, &[]).await.unwrap().get(0);
    assert_eq!(v, SECRET);
    support
        .batch_execute(&format!("INSERT INTO {schema}.people VALUES ('y', 'z')"))
        .await
        .unwrap();
    let contractor = pg_token(&proxy, CONTRACTOR, &token(CONTRACTOR, &["contractors"]))
        .await
        .unwrap();
    let v: String = contractor.query_one(&select, &[]).await.unwrap().get(0);
    assert_ne!(v, SECRET, "the mask applies to the token's groups");
    let err = contractor
        .batch_execute(&format!("DELETE FROM {schema}.people WHERE name = 'y'"))
        .await
        .unwrap_err();
    let message = err.as_db_error().map(|d| d.message().to_string());
    assert!(
        message
            .as_deref()
            .is_some_and(|m| m.contains("contractors may only read")),
        "{err:?}"
    );
    // An ES256 token from the same provider signs in too.
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some("ec-1".into());
    let es = encode(
        &h,
        &claims(SUPPORT, &["support"], 600),
        &EncodingKey::from_ec_der(&idp().ec_private),
    )
    .unwrap();
    pg_token(&proxy, SUPPORT, &es).await.unwrap();

    let logs = captured_logs();
    for (what, bad) in bad_tokens() {
        let err = pg_token(&proxy, SUPPORT, &bad)
            .await
            .err()
            .unwrap_or_else(|| panic!("{what} token accepted"));
        let db = err.as_db_error().unwrap_or_else(|| panic!("{what}: {err}"));
        assert_eq!(db.code().code(), "28P01", "{what}: {db:?}");
        assert!(
            !db.message().contains("token"),
            "the client learns nothing specific: {}",
            db.message()
        );
    }
    // Bearer tokens authenticate to the admin API as well.
    let admin = format!(
        "http://{}/api/reload",
        proxy.server.as_ref().unwrap().admin_addr()
    );
    let http = reqwest::Client::new();
    for (bearer, status) in [
        (token(SUPPORT, &["support"]), 200),
        (token(CONTRACTOR, &["contractors"]), 403),
        (sign(&claims(SUPPORT, &["support"], -600)), 401),
    ] {
        let r = http.post(&admin).bearer_auth(bearer).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{}", r.text().await.unwrap());
    }
    // The log says why each was refused; the client was told nothing more than 28P01.
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    for why in [
        "ExpiredSignature",
        "InvalidAudience",
        "InvalidIssuer",
        "InvalidSignature",
        "algorithm HS256 is not accepted",
        "is for \"erin@example.com\"",
    ] {
        assert!(text.contains(why), "no {why:?} in the log:\n{text}");
    }
    // A good token over plaintext is refused: tokens travel only inside TLS.
    let (c, conn) = match tokio_postgres::connect(
        &proxy.conn_str(SUPPORT, &token(SUPPORT, &["support"]), "sslmode=disable"),
        tokio_postgres::NoTls,
    )
    .await
    {
        Ok(pair) => pair,
        Err(e) => {
            assert_eq!(
                e.as_db_error().map(|d| d.code().code()),
                Some("28P01"),
                "{e}"
            );
            return;
        }
    };
    drop((c, conn));
    panic!("a token over plaintext signed in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_session_outliving_its_token_finishes_its_statement_then_ends() {
    let upstream = pg_scram();
    let proxy = Proxy::start(upstream, opts("public", "0s")).await;
    let short = sign(&claims(SUPPORT, &["support"], 6));
    let client = pg_token(&proxy, SUPPORT, &short).await.unwrap();
    let started = std::time::Instant::now();
    client.batch_execute("SELECT pg_sleep(8)").await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(8),
        "the running statement ran to its end"
    );
    let err = client.query_one("SELECT 1", &[]).await.unwrap_err();
    let db = err.as_db_error().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!(db.code().code(), "28000");
    assert!(db.message().contains("token expired"), "{db:?}");
    assert!(
        client.is_closed() || client.query_one("SELECT 1", &[]).await.is_err(),
        "the session ended"
    );
}

fn my_opts(proxy: &Proxy, user: &str, token: &str, tls: bool) -> mysql_async::OptsBuilder {
    let o = mysql_opts(proxy.port(), user, token, Some("shop")).enable_cleartext_plugin(true);
    match tls {
        true => o.ssl_opts(Some(
            mysql_async::SslOpts::default().with_root_certs(vec![proxy.ca_file().into()]),
        )),
        false => o,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_tokens_sign_in_with_clear_password_over_tls() {
    let server = mariadb_native();
    let t = unique("people");
    let mut direct = mysql_direct(server).await;
    direct
        .query_drop(format!("CREATE TABLE shop.{t} (name TEXT, secret TEXT); INSERT INTO shop.{t} VALUES ('x', '{SECRET}')"))
        .await
        .unwrap();
    let mut o = opts("shop", "0s");
    o.extra_config = o
        .extra_config
        .replace("shop.people.secret", &format!("shop.{t}.secret"));
    let proxy = Proxy::start_mysql(server, o).await;
    let select = format!("SELECT secret FROM shop.{t}");

    let mut support = mysql_async::Conn::new(my_opts(
        &proxy,
        SUPPORT,
        &token(SUPPORT, &["support"]),
        true,
    ))
    .await
    .unwrap();
    let v: Option<String> = support.query_first(&select).await.unwrap();
    assert_eq!(v.as_deref(), Some(SECRET));
    let mut contractor = mysql_async::Conn::new(my_opts(
        &proxy,
        CONTRACTOR,
        &token(CONTRACTOR, &["contractors"]),
        true,
    ))
    .await
    .unwrap();
    let v: Option<String> = contractor.query_first(&select).await.unwrap();
    assert_ne!(v.as_deref(), Some(SECRET));
    let err = contractor
        .query_drop(format!("DELETE FROM shop.{t} WHERE name = 'x'"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("contractors may only read"),
        "{err}"
    );

    for (what, bad) in bad_tokens() {
        let err = mysql_async::Conn::new(my_opts(&proxy, SUPPORT, &bad, true))
            .await
            .err()
            .unwrap_or_else(|| panic!("{what} token accepted"));
        assert!(err.to_string().contains("1045"), "{what}: {err}");
    }
    let plaintext = mysql_async::Conn::new(my_opts(
        &proxy,
        SUPPORT,
        &token(SUPPORT, &["support"]),
        false,
    ))
    .await;
    assert!(plaintext.is_err(), "a token over plaintext is refused");

    // A session outliving its token finishes the statement it runs, then ends.
    let short = sign(&claims(SUPPORT, &["support"], 6));
    let mut brief = mysql_async::Conn::new(my_opts(&proxy, SUPPORT, &short, true))
        .await
        .unwrap();
    let slept: Option<i64> = brief.query_first("SELECT SLEEP(8)").await.unwrap();
    assert_eq!(slept, Some(0));
    let err = brief.query_drop("SELECT 1").await.unwrap_err();
    assert!(err.to_string().contains("token expired"), "{err}");
}

/// An identity with `password_from = "token"` for groups `sso` and `analysts`, logging in as
/// `role`.
fn token_identity(schema: &str, role: &str) -> ProxyOpts {
    let mut o = opts(schema, "5m");
    o.extra_config += &format!(
        "\n[[targets.identities]]\ngroups = [\"sso\", \"analysts\"]\nuser = \"{role}\"\npassword_from = \"token\"\n"
    );
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_identities_pass_the_clients_token_upstream_as_the_password() {
    let upstream = pg_scram();
    let role = unique("sso");
    // The database knows this one token as the role's password: only it logs in.
    let accepted = token(SUPPORT, &["sso"]);
    upstream
        .psql_superuser(
            "postgres",
            &format!("CREATE ROLE {role} LOGIN PASSWORD '{accepted}';"),
        )
        .unwrap();
    let proxy = Proxy::start(upstream, token_identity("nothing", &role)).await;
    let client = pg_token(&proxy, SUPPORT, &accepted).await.unwrap();
    let user: String = client
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(user, role);

    // Another valid token signs in to sluice, and is what reaches the database, which refuses it.
    let other = sign(&claims(SUPPORT, &["sso"], 900));
    assert_ne!(other, accepted);
    let err = pg_token(&proxy, SUPPORT, &other).await.unwrap_err();
    let db = err.as_db_error().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!(db.code().code(), "08006", "{db:?}");
    assert!(db.message().contains("target \"pg\""), "{}", db.message());

    // A password-signed analyst has no token to pass: refused, not logged in some other way.
    let err = proxy.try_connect(USER, PASSWORD).await.unwrap_err();
    let db = err.as_db_error().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!(db.code().code(), "28000", "{db:?}");
    assert!(db.message().contains("client's token"), "{}", db.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_identities_pass_the_clients_token_upstream_as_the_password() {
    let server = mariadb_native();
    let role = unique("sso");
    let accepted = token(SUPPORT, &["sso"]);
    server
        .sql_root(
            None,
            &format!(
                "CREATE USER '{role}'@'127.0.0.1' IDENTIFIED BY '{accepted}';\n\
                 GRANT SELECT ON shop.* TO '{role}'@'127.0.0.1';\n"
            ),
        )
        .unwrap();
    let proxy = Proxy::start_mysql(server, token_identity("shop", &role)).await;
    let mut conn = mysql_async::Conn::new(my_opts(&proxy, SUPPORT, &accepted, true))
        .await
        .unwrap();
    let user: Option<String> = conn.query_first("SELECT CURRENT_USER()").await.unwrap();
    assert_eq!(user, Some(format!("{role}@127.0.0.1")));

    let other = sign(&claims(SUPPORT, &["sso"], 900));
    let err = mysql_async::Conn::new(my_opts(&proxy, SUPPORT, &other, true))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, mysql_async::Error::Server(s) if s.code == 1429 && s.message.contains("target \"my\"")),
        "{err}"
    );
    let err = mysql_async::Conn::new(mysql_opts(proxy.port(), USER, PASSWORD, Some("shop")))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, mysql_async::Error::Server(s) if s.code == 1045 && s.message.contains("client's token")),
        "{err}"
    );
}
