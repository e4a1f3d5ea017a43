//! The one reader of `Cookie` request headers (RFC 6265 §5.4 as browsers
//! send it): every header, split on `;`, each pair trimmed and split at
//! its first `=`. Pairs without `=` are skipped. A name given twice is
//! ambiguous (a sibling host may have planted one) and reads as absent.

use axum::http::{header, HeaderMap};

/// The `name=value` pairs of one `Cookie` header value.
pub fn pairs(value: &str) -> impl Iterator<Item = (&str, &str)> {
    value
        .split(';')
        .map(str::trim)
        .filter_map(|c| c.split_once('='))
}

/// Every cookie of every `Cookie` header, as `name=value` strings.
pub fn all(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// A cookie's value when exactly one cookie has that name.
pub fn unique<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    unique_in(
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
        name,
    )
}

/// [`unique`] over header values given as text.
pub fn unique_in<'a>(values: impl Iterator<Item = &'a str>, name: &str) -> Option<&'a str> {
    let mut found = values
        .flat_map(pairs)
        .filter(|(n, _)| *n == name)
        .map(|(_, v)| v);
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_read_once_across_headers_and_twice_is_absent() {
        let one = ["a=1; b=2", "c=3=4"];
        assert_eq!(unique_in(one.into_iter(), "b"), Some("2"));
        assert_eq!(unique_in(one.into_iter(), "c"), Some("3=4"));
        assert_eq!(unique_in(one.into_iter(), "d"), None);
        let twice = ["a=1", "x; a=2"];
        assert_eq!(unique_in(twice.into_iter(), "a"), None);
        assert_eq!(unique_in(["  a = 1 "].into_iter(), "a"), None);
        assert_eq!(unique_in(["a="].into_iter(), "a"), Some(""));
    }
}
