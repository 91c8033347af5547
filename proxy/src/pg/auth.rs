//! Authentication of a PostgreSQL client: SCRAM-SHA-256(-PLUS) against sluice's `[[users]]`,
//! or, over TLS and for users not listed there, an OIDC/JWT token sent as a cleartext password
//! (`[jwt]`).

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::frame::Reader;
use super::messages;
use crate::auth::scram::{self, ChannelBinding};
use crate::auth::{Identity, UserDirectory};
use crate::tls::BoxStream;

/// Authentication messages are small; anything larger is not a SASL message.
const MAX_AUTH_MESSAGE: u32 = 16 * 1024;

/// Why authentication failed: what the log says. The client only ever sees 28P01.
#[derive(Debug, thiserror::Error)]
pub enum AuthFailure {
    #[error("unknown user")]
    UnknownUser,
    #[error("{0}")]
    Scram(#[from] scram::ScramError),
    #[error("protocol violation: {0}")]
    Protocol(String),
    #[error("client went away: {0}")]
    Io(#[from] std::io::Error),
    #[error("token refused: {0}")]
    Token(#[from] crate::auth::jwt::TokenError),
}

/// Runs the SASL exchange and, on success, sends AuthenticationOk.
pub async fn authenticate(
    stream: &mut BoxStream,
    user: &str,
    users: &UserDirectory,
    binding: &ChannelBinding,
) -> Result<Identity, AuthFailure> {
    let mut out = BytesMut::new();
    messages::authentication_sasl(&mut out, binding.mechanisms());
    stream.write_all(&out).await?;
    stream.flush().await?;

    let body = read_password_message(stream).await?;
    let mut r = Reader(&body);
    let mechanism = r
        .cstr()
        .ok_or_else(|| protocol("SASLInitialResponse without mechanism"))?;
    let len = r
        .i32()
        .ok_or_else(|| protocol("SASLInitialResponse without length"))?;
    let client_first = match usize::try_from(len) {
        Ok(n) => r
            .bytes(n)
            .ok_or_else(|| protocol("SASLInitialResponse shorter than its length"))?,
        Err(_) => return Err(protocol("SASLInitialResponse without data")),
    };
    let (verifier, entry) = users.verifier(user);
    let (state, server_first) = scram::begin(&verifier, mechanism, client_first, binding)?;

    out.clear();
    messages::authentication(&mut out, 11, server_first.as_bytes());
    stream.write_all(&out).await?;
    stream.flush().await?;

    let client_final = read_password_message(stream).await?;
    let server_final = state.verify(&client_final)?;
    let entry = entry.ok_or(AuthFailure::UnknownUser)?;

    out.clear();
    messages::authentication(&mut out, 12, server_final.as_bytes());
    messages::authentication(&mut out, 0, &[]);
    stream.write_all(&out).await?;
    Ok(Identity {
        user: user.to_string(),
        groups: entry.groups.clone(),
    })
}

/// Asks for the password in clear (the connection is TLS) and verifies it as a token; returns
/// who it names and the token itself (an identity may pass it on upstream).
pub async fn authenticate_token(
    stream: &mut BoxStream,
    user: &str,
    verifier: &crate::auth::jwt::JwtVerifier,
) -> Result<(crate::auth::jwt::TokenIdentity, String), AuthFailure> {
    let mut out = BytesMut::new();
    messages::authentication(&mut out, 3, &[]);
    stream.write_all(&out).await?;
    stream.flush().await?;
    let body = read_password_message(stream).await?;
    let token = Reader(&body)
        .cstr()
        .ok_or_else(|| protocol("PasswordMessage without a password"))?;
    let signed = verifier.verify(token, user).await?;
    out.clear();
    messages::authentication(&mut out, 0, &[]);
    stream.write_all(&out).await?;
    Ok((signed, token.to_string()))
}

fn protocol(what: &str) -> AuthFailure {
    AuthFailure::Protocol(what.to_string())
}

/// Reads one `p` message (SASLInitialResponse / SASLResponse) and returns its body.
async fn read_password_message(stream: &mut BoxStream) -> Result<Vec<u8>, AuthFailure> {
    let tag = stream.read_u8().await?;
    let len = stream.read_u32().await?;
    if tag != b'p' {
        return Err(AuthFailure::Protocol(format!(
            "expected a password message, got message type {:?}",
            char::from(tag)
        )));
    }
    if !(4..=MAX_AUTH_MESSAGE).contains(&len) {
        return Err(AuthFailure::Protocol(format!(
            "invalid password message length {len}"
        )));
    }
    let mut body = vec![0u8; len as usize - 4];
    stream.read_exact(&mut body).await?;
    Ok(body)
}
