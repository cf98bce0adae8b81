//! The page URL's query encoding: `%XX` escapes (by the `percent-encoding` crate,
//! as the `url` crate does), readable where it can be (`:` and `/` stay as they are).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// Everything but unreserved characters and `:` `/` is escaped.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b':')
    .remove(b'/');

/// Decodes `%XX` escapes and `+` (as in form-encoded query strings); a `%` that does
/// not start an escape stays as it is, and bytes that are not UTF-8 become U+FFFD.
pub fn percent_decode(s: &str) -> String {
    let plus = s.replace('+', " ");
    percent_decode_str(&plus).decode_utf8_lossy().into_owned()
}

/// Escapes everything but unreserved characters and `:` `/` (readable URLs in links).
pub fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, QUERY_VALUE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_keeps_what_is_not_an_escape() {
        assert_eq!(percent_decode("a%20b+c%2x"), "a b c%2x");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(
            percent_encode("http://h:1/a b&c=d|é"),
            "http://h:1/a%20b%26c%3Dd%7C%C3%A9"
        );
        assert_eq!(percent_decode(&percent_encode("a b&c=d|é+")), "a b&c=d|é+");
        assert_eq!(percent_decode("%FF"), "\u{FFFD}");
    }
}
