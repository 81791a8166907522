//! ES256 JSON Web Tokens: signing the tokens the simulator issues and verifying them on ARM and
//! Key Vault calls (ring, no external JWT crate).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _};
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("the signing key is not a valid P-256 PKCS#8 key")]
    BadKey,
    #[error("signing failed")]
    Sign,
}

/// Why a presented token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRejection {
    Malformed,
    BadSignature,
}

pub struct Signer {
    key: EcdsaKeyPair,
    pkcs8_pem: String,
    kid: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("kid", &self.kid).finish()
    }
}

impl Signer {
    /// Loads the key from a PEM written earlier, or makes one.
    pub fn from_pem_or_new(pem: Option<&str>) -> Result<Self, JwtError> {
        let kp = match pem {
            Some(p) => rcgen::KeyPair::from_pem(p).map_err(|_| JwtError::BadKey)?,
            None => rcgen::KeyPair::generate().map_err(|_| JwtError::BadKey)?,
        };
        let der = kp.serialize_der();
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng)
            .map_err(|_| JwtError::BadKey)?;
        let digest = ring::digest::digest(&ring::digest::SHA256, key.public_key().as_ref());
        let kid = B64.encode(&digest.as_ref()[..12]);
        Ok(Self {
            key,
            pkcs8_pem: kp.serialize_pem(),
            kid,
            rng,
        })
    }

    pub fn pem(&self) -> &str {
        &self.pkcs8_pem
    }

    pub fn sign(&self, claims: &Value) -> Result<String, JwtError> {
        let header = json!({"typ": "JWT", "alg": "ES256", "kid": self.kid});
        let msg = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let sig = self
            .key
            .sign(&self.rng, msg.as_bytes())
            .map_err(|_| JwtError::Sign)?;
        Ok(format!("{msg}.{}", B64.encode(sig.as_ref())))
    }

    /// Checks the signature and returns the claims; expiry and audience are the caller's business.
    pub fn verify(&self, token: &str) -> Result<Value, TokenRejection> {
        let (claims, msg, sig) = split(token)?;
        let header = decode_part(msg.split('.').next().unwrap_or_default())?;
        if header.get("alg").and_then(Value::as_str) != Some("ES256") {
            return Err(TokenRejection::BadSignature);
        }
        let public = signature::UnparsedPublicKey::new(
            &signature::ECDSA_P256_SHA256_FIXED,
            self.key.public_key().as_ref(),
        );
        public
            .verify(msg.as_bytes(), &sig)
            .map_err(|_| TokenRejection::BadSignature)?;
        Ok(claims)
    }

    /// The JSON Web Key Set published at the discovery `jwks_uri`.
    pub fn jwks(&self) -> Value {
        let raw = self.key.public_key().as_ref();
        // Uncompressed SEC1 point: 0x04 || X (32 bytes) || Y (32 bytes).
        let (x, y) = if raw.len() == 65 {
            (&raw[1..33], &raw[33..65])
        } else {
            (&raw[..0], &raw[..0])
        };
        json!({"keys": [{
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256",
            "kid": self.kid, "x": B64.encode(x), "y": B64.encode(y)
        }]})
    }
}

fn decode_part(part: &str) -> Result<Value, TokenRejection> {
    let bytes = B64
        .decode(part.trim_end_matches('='))
        .map_err(|_| TokenRejection::Malformed)?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| TokenRejection::Malformed)?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(TokenRejection::Malformed)
    }
}

fn split(token: &str) -> Result<(Value, &str, Vec<u8>), TokenRejection> {
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenRejection::Malformed);
    };
    let claims = decode_part(c)?;
    let sig = B64
        .decode(s.trim_end_matches('='))
        .map_err(|_| TokenRejection::Malformed)?;
    let msg_len = h.len() + 1 + c.len();
    Ok((claims, &token[..msg_len], sig))
}

/// Reads the claims of a JWT without checking its signature: used for federated assertions,
/// whose issuers (Kubernetes service-account signers) the simulator cannot reach.
pub fn unverified_claims(token: &str) -> Result<Value, TokenRejection> {
    split(token).map(|(claims, _, _)| claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_and_rejects_tampering() {
        let s = Signer::from_pem_or_new(None).expect("key");
        let t = s.sign(&json!({"aud": "x", "oid": "o"})).expect("sign");
        assert_eq!(s.verify(&t).expect("valid")["oid"], "o");
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = B64.encode(json!({"aud": "x", "oid": "admin"}).to_string());
        parts[1] = &forged;
        assert_eq!(
            s.verify(&parts.join(".")),
            Err(TokenRejection::BadSignature)
        );
        assert_eq!(s.verify("not-a-token"), Err(TokenRejection::Malformed));
        assert_eq!(s.verify("a.b.c"), Err(TokenRejection::Malformed));
    }

    #[test]
    fn key_survives_a_round_trip_through_pem() {
        let s = Signer::from_pem_or_new(None).expect("key");
        let t = s.sign(&json!({"a": 1})).expect("sign");
        let again = Signer::from_pem_or_new(Some(s.pem())).expect("reload");
        assert!(again.verify(&t).is_ok());
        assert_eq!(again.jwks()["keys"][0]["crv"], "P-256");
    }
}
