//! API keys, ids and signatures: random tokens from the operating system, stored as hashes.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// A random token: `prefix` and 256 bits from the operating system, URL-safe base64.
pub fn random_token(prefix: &str) -> String {
    use base64::Engine;
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
    )
}

/// A random id: `prefix` and 128 bits in hex (`run_3f...`).
pub fn random_id(prefix: &str) -> String {
    format!("{prefix}{}", hex::encode(random_bytes::<16>()))
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The operating system's generator does not fail on Linux once booted; if it ever did,
    // a key of zeros must not be handed out.
    getrandom::fill(&mut bytes).expect("the operating system's random number generator failed");
    bytes
}

/// The stored form of an API key: SHA-256 in hex. Keys are 256 random bits, so a fast hash
/// is enough (there is nothing to guess by brute force).
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// SHA-256 of module bytes, in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The `X-Sandbox-Signature` of a callback body: `sha256=` and HMAC-SHA256 in hex.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_prefixed() {
        let a = random_token("sk_");
        let b = random_token("sk_");
        assert!(a.starts_with("sk_") && a.len() == 3 + 43);
        assert_ne!(a, b);
        assert_eq!(random_id("run_").len(), 4 + 32);
    }

    #[test]
    fn signatures_match_a_known_vector() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(key_hash("abc").len(), 64);
    }
}
