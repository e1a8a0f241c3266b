//! The webhook's signature: HMAC-SHA256 of the body with the secret, in
//! hex, as `sha256=…` (the form GitHub's webhooks use, which receivers
//! already know how to check).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header the signature is sent in.
pub(crate) const HEADER: &str = "X-Colony-Signature-256";

/// The signature of `body` with `secret`.
pub(crate) fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 2 * digest.len());
    out.push_str("sha256=");
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4231_test_case_2() {
        let got = signature(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(got, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
