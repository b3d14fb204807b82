//! DKIM keys (RFC 6376 section 3.6.1): `<selector>._domainkey.<domain>`.

use super::{Finding, Lookup, RecordKind, Severity, lookup_failed};

const R: RecordKind = RecordKind::Dkim;

/// Looks up and lints one selector's key.
pub fn check_selector(lookup: &dyn Lookup, domain: &str, selector: &str, out: &mut Vec<Finding>) {
    let name = format!("{selector}._domainkey.{domain}");
    let txts = match lookup.txt(&name) {
        Ok(t) => t,
        Err(e) => {
            out.push(lookup_failed(R, &name, &e));
            return;
        }
    };
    // A TXT record at the name is the key record (the v= tag is optional).
    let Some(record) = txts.first() else {
        out.push(Finding::new(
            "dkim-missing",
            Severity::Error,
            R,
            format!("no DKIM key at {name}: mail signed with s={selector} d={domain} fails DKIM"),
            format!(
                "publish the selector's public key at {name}, or stop signing with s={selector}"
            ),
        ));
        return;
    };
    let syntax = |out: &mut Vec<Finding>, why: String| {
        out.push(Finding::new(
            "dkim-syntax",
            Severity::Error,
            R,
            format!("{name}: \"{}\": {why}", shorten(record)),
            "republish the key record as the signing service gives it (v=DKIM1; k=rsa; p=...)",
        ))
    };
    let mut tags: Vec<(String, String)> = Vec::new();
    for part in record.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some((k, v)) => {
                tags.push((k.trim().to_ascii_lowercase(), v.split_whitespace().collect()))
            }
            None => {
                syntax(out, format!("\"{part}\" is not a tag=value pair"));
                return;
            }
        }
    }
    let get = |t: &str| tags.iter().find(|(k, _)| k == t).map(|(_, v)| v.as_str());
    if let Some(v) = get("v")
        && (v != "DKIM1" || tags.first().is_some_and(|(k, _)| k != "v"))
    {
        syntax(out, "v= must be DKIM1 and come first".into());
    }
    if get("t").is_some_and(|t| t.split(':').any(|f| f.trim() == "y")) {
        out.push(Finding::new(
            "dkim-testing",
            Severity::Warning,
            R,
            format!(
                "{name} is in testing mode (t=y): receivers may treat its signatures as unsigned"
            ),
            "remove t=y once the key works",
        ));
    }
    let Some(p) = get("p") else {
        syntax(out, "there is no p= tag (the public key)".into());
        return;
    };
    if p.is_empty() {
        out.push(Finding::new(
            "dkim-revoked",
            Severity::Warning,
            R,
            format!("{name} has an empty p=: the key is revoked, and signatures with s={selector} fail"),
            format!("if mail is still signed with s={selector}, publish its key; otherwise stop signing with it"),
        ));
        return;
    }
    let Some(der) = base64(p) else {
        syntax(out, "p= is not valid base64".into());
        return;
    };
    match get("k").unwrap_or("rsa").to_ascii_lowercase().as_str() {
        "rsa" => match rsa_bits(&der) {
            Some(bits) if bits < 1024 => out.push(Finding::new(
                "dkim-weak-key",
                Severity::Error,
                R,
                format!("{name} is a {bits}-bit RSA key: receivers reject keys under 1024 bits (RFC 8301)"),
                "generate a 2048-bit key, publish it under a new selector, and switch signing to it",
            )),
            Some(bits) if bits < 2048 => out.push(Finding::new(
                "dkim-weak-key",
                Severity::Warning,
                R,
                format!("{name} is a {bits}-bit RSA key: 2048 bits is the current recommendation"),
                "generate a 2048-bit key, publish it under a new selector, and switch signing to it",
            )),
            Some(_) => {}
            None => syntax(out, "p= is not an RSA public key".into()),
        },
        "ed25519" if der.len() == 32 => {}
        "ed25519" => syntax(out, format!("an Ed25519 key is 32 bytes, not {}", der.len())),
        other => syntax(out, format!("unknown key type k={other}")),
    }
}

fn shorten(s: &str) -> String {
    if s.len() > 60 {
        let mut end = 57;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s.to_owned()
    }
}

/// Standard base64 (padding optional); `None` on any other character.
fn base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// One DER element: tag, content, and what follows it.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, b| (a << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The modulus size of an RSA key given as SubjectPublicKeyInfo (what DKIM
/// publishes) or as a bare PKCS#1 RSAPublicKey.
fn rsa_bits(key: &[u8]) -> Option<u32> {
    let (tag, body, _) = der(key)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, first, rest) = der(body)?;
    let rsa_key = match tag {
        // SPKI: AlgorithmIdentifier, then a BIT STRING holding the key.
        0x30 => {
            let (tag, bits, _) = der(rest)?;
            if tag != 0x03 || bits.is_empty() {
                return None;
            }
            let (tag, inner, _) = der(&bits[1..])?;
            if tag != 0x30 {
                return None;
            }
            inner
        }
        // PKCS#1: the modulus comes first.
        0x02 => body,
        _ => {
            let _ = first;
            return None;
        }
    };
    let (tag, modulus, _) = der(rsa_key)?;
    if tag != 0x02 {
        return None;
    }
    let modulus = match modulus.iter().position(|b| *b != 0) {
        Some(i) => &modulus[i..],
        None => return None,
    };
    let lead = u32::from(modulus[0]);
    Some((modulus.len() as u32 - 1) * 8 + (32 - lead.leading_zeros()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64("aGVsbG8").unwrap(), b"hello");
        assert!(base64("a*b").is_none());
    }

    #[test]
    fn der_lengths_past_the_input_are_refused() {
        assert!(der(&[0x30, 0x82, 0xff, 0xff, 0x00]).is_none());
        assert!(rsa_bits(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_none());
    }
}
