//! JSON Pointers (RFC 6901): building them one token at a time, with `~` written `~0` and
//! `/` written `~1`, and reading the `#…` fragment of a `$ref`, which may also be
//! percent-encoded (RFC 3986).

/// Appends one reference token to `pointer`.
pub fn push(pointer: &mut String, token: &str) {
    pointer.push('/');
    for c in token.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

/// `pointer` with one more token.
pub fn child(pointer: &str, token: &str) -> String {
    let mut child = pointer.to_string();
    push(&mut child, token);
    child
}

/// The JSON Pointer in a URI fragment, percent-decoded; `None` when an escape is broken
/// or the bytes are not UTF-8.
pub fn decode_fragment(fragment: &str) -> Option<String> {
    if !fragment.contains('%') {
        return Some(fragment.to_string());
    }
    let bytes = fragment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = std::str::from_utf8(bytes.get(at + 1..at + 3)?).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            at += 3;
        } else {
            decoded.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_escaped() {
        let mut pointer = String::new();
        push(&mut pointer, "items");
        push(&mut pointer, "3");
        push(&mut pointer, "a/b~c");
        assert_eq!(pointer, "/items/3/a~1b~0c");
        assert_eq!(child("", ""), "/");
    }

    #[test]
    fn fragments_are_percent_decoded() {
        assert_eq!(
            decode_fragment("/$defs/a%20b").as_deref(),
            Some("/$defs/a b")
        );
        assert_eq!(decode_fragment("/%C3%A9").as_deref(), Some("/é"));
        assert_eq!(decode_fragment("/x%2"), None);
        assert_eq!(decode_fragment("/plain").as_deref(), Some("/plain"));
    }
}
