//! The access log's line: one JSON object per request, with API Gateway's
//! `$context` names, written out by hand.
//!
//! serde_json's serializer escapes every key and value byte by byte
//! through its formatter; with the request time formatted through `fmt`
//! for every line, that was about a tenth of a proxied request's
//! instructions (bench/gateway_instructions.sh). The line's shape is
//! fixed, so it is written here directly: keys as literals, strings
//! escaped only where a byte needs it (the same escapes serde_json
//! writes; the tests hold the two equal), the time's text kept per thread
//! for its second.

use std::cell::RefCell;
use std::fmt::Write as _;

/// An access log line.
pub(crate) struct AccessLine<'a> {
    pub request_id: &'a str,
    pub api_id: &'a str,
    pub api: &'a str,
    pub stage: Option<&'a str>,
    pub route_key: &'a str,
    pub http_method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub protocol: Option<&'a str>,
    pub source_ip: Option<&'a str>,
    /// Epoch milliseconds of the request; `requestTime` is its CLF form.
    pub request_time_epoch: i64,
    pub response_latency: i64,
    pub authorizer_principal: Option<&'a str>,
}

impl AccessLine<'_> {
    /// The line as JSON, keys in this order: requestId, apiId, api,
    /// stage, routeKey, httpMethod, path, status, protocol, sourceIp,
    /// requestTime, requestTimeEpoch, responseLatency,
    /// authorizerPrincipal (absent values are `null`).
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(384);
        out.push_str("{\"requestId\":");
        push_json_str(&mut out, self.request_id);
        out.push_str(",\"apiId\":");
        push_json_str(&mut out, self.api_id);
        out.push_str(",\"api\":");
        push_json_str(&mut out, self.api);
        out.push_str(",\"stage\":");
        push_json_opt(&mut out, self.stage);
        out.push_str(",\"routeKey\":");
        push_json_str(&mut out, self.route_key);
        out.push_str(",\"httpMethod\":");
        push_json_str(&mut out, self.http_method);
        out.push_str(",\"path\":");
        push_json_str(&mut out, self.path);
        out.push_str(",\"status\":");
        out.push_str(itoa::Buffer::new().format(self.status));
        out.push_str(",\"protocol\":");
        push_json_opt(&mut out, self.protocol);
        out.push_str(",\"sourceIp\":");
        push_json_opt(&mut out, self.source_ip);
        out.push_str(",\"requestTime\":\"");
        push_clf_time(&mut out, self.request_time_epoch);
        out.push_str("\",\"requestTimeEpoch\":");
        out.push_str(itoa::Buffer::new().format(self.request_time_epoch));
        out.push_str(",\"responseLatency\":");
        out.push_str(itoa::Buffer::new().format(self.response_latency));
        out.push_str(",\"authorizerPrincipal\":");
        push_json_opt(&mut out, self.authorizer_principal);
        out.push('}');
        out
    }
}

fn push_json_opt(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => push_json_str(out, s),
        None => out.push_str("null"),
    }
}

/// `s` as a JSON string: quotes, backslashes and control characters
/// escaped as serde_json escapes them (`\"`, `\\`, `\b`, `\f`, `\n`,
/// `\r`, `\t`, else `\u00XX`); every other character as it is. Runs of
/// bytes that need nothing are copied whole.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    // Which bytes need an escape: quote, backslash, control characters.
    const NEEDS: [bool; 256] = {
        let mut t = [false; 256];
        let mut b = 0;
        while b < 0x20 {
            t[b] = true;
            b += 1;
        }
        t[b'"' as usize] = true;
        t[b'\\' as usize] = true;
        t
    };
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !NEEDS[b as usize] {
            continue;
        }
        // Escaped bytes are ASCII, so `start..i` ends on a char boundary.
        out.push_str(&s[start..i]);
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Appends the time of epoch milliseconds `ms` in the access log's form
/// (`12/Mar/2020:19:03:58 +0000`, UTC). The text is kept per thread for
/// its second: lines of the same second share it.
pub fn push_clf_time(out: &mut String, ms: i64) {
    thread_local! {
        static SECOND: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    let secs = ms.div_euclid(1000);
    SECOND.with_borrow_mut(|(second, text)| {
        if *second != secs {
            text.clear();
            let t = time::OffsetDateTime::from_unix_timestamp(secs)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            const MONTHS: [&str; 12] = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            let _ = write!(
                text,
                "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
                t.day(),
                MONTHS[t.month() as usize - 1],
                t.year(),
                t.hour(),
                t.minute(),
                t.second()
            );
            *second = secs;
        }
        out.push_str(text);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    fn line<'a>(
        strings: [&'a str; 7],
        opt: Option<&'a str>,
        numbers: (u16, i64, i64),
    ) -> AccessLine<'a> {
        AccessLine {
            request_id: strings[0],
            api_id: strings[1],
            api: strings[2],
            stage: opt,
            route_key: strings[3],
            http_method: strings[4],
            path: strings[5],
            status: numbers.0,
            protocol: Some("HTTP/1.1"),
            source_ip: opt.map(|_| strings[6]),
            request_time_epoch: numbers.1,
            response_latency: numbers.2,
            authorizer_principal: opt,
        }
    }

    /// The line as serde_json wrote it, from the struct this module
    /// replaced.
    fn by_serde(l: &AccessLine<'_>) -> String {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Derived<'a> {
            request_id: &'a str,
            api_id: &'a str,
            api: &'a str,
            stage: Option<&'a str>,
            route_key: &'a str,
            http_method: &'a str,
            path: &'a str,
            status: u16,
            protocol: Option<&'a str>,
            source_ip: Option<&'a str>,
            request_time: String,
            request_time_epoch: i64,
            response_latency: i64,
            authorizer_principal: Option<&'a str>,
        }
        let mut request_time = String::new();
        push_clf_time(&mut request_time, l.request_time_epoch);
        serde_json::to_string(&Derived {
            request_id: l.request_id,
            api_id: l.api_id,
            api: l.api,
            stage: l.stage,
            route_key: l.route_key,
            http_method: l.http_method,
            path: l.path,
            status: l.status,
            protocol: l.protocol,
            source_ip: l.source_ip,
            request_time,
            request_time_epoch: l.request_time_epoch,
            response_latency: l.response_latency,
            authorizer_principal: l.authorizer_principal,
        })
        .expect("serializes")
    }

    #[test]
    fn a_line_has_api_gateways_names_in_order() {
        let l = line(
            [
                "Mc7UVioPPHcEKPA=",
                "abc123",
                "shop",
                "GET /{proxy+}",
                "GET",
                "/a\"b\\c\n",
                "127.0.0.1",
            ],
            Some("$default"),
            (200, 1_584_039_838_123, 3),
        );
        let text = l.to_json();
        assert_eq!(
            text,
            "{\"requestId\":\"Mc7UVioPPHcEKPA=\",\"apiId\":\"abc123\",\"api\":\"shop\",\
             \"stage\":\"$default\",\"routeKey\":\"GET /{proxy+}\",\"httpMethod\":\"GET\",\
             \"path\":\"/a\\\"b\\\\c\\n\",\"status\":200,\"protocol\":\"HTTP/1.1\",\
             \"sourceIp\":\"127.0.0.1\",\"requestTime\":\"12/Mar/2020:19:03:58 +0000\",\
             \"requestTimeEpoch\":1584039838123,\"responseLatency\":3,\
             \"authorizerPrincipal\":\"$default\"}"
        );
        let none = line(["a", "b", "c", "-", "GET", "/", "x"], None, (404, 0, 0)).to_json();
        let v: Value = serde_json::from_str(&none).expect("JSON");
        assert_eq!(v["stage"], Value::Null);
        assert_eq!(v["authorizerPrincipal"], Value::Null);
        assert_eq!(v["requestTime"], "01/Jan/1970:00:00:00 +0000");
    }

    #[test]
    fn the_time_of_a_kept_second_is_not_reused_for_the_next() {
        let mut a = String::new();
        push_clf_time(&mut a, 1_584_039_838_999);
        push_clf_time(&mut a, 1_584_039_839_000);
        push_clf_time(&mut a, -1);
        assert_eq!(
            a,
            "12/Mar/2020:19:03:58 +000012/Mar/2020:19:03:59 +000031/Dec/1969:23:59:59 +0000"
        );
    }

    proptest! {
        #[test]
        fn any_line_is_what_serde_json_writes(
            strings in prop::array::uniform7(any::<String>()),
            opt in prop::option::of(any::<String>()),
            numbers in (any::<u16>(), any::<i64>().prop_map(|t| t.rem_euclid(253_402_300_799_000)), any::<i64>()),
        ) {
            let refs = strings.each_ref().map(String::as_str);
            let l = line(refs, opt.as_deref(), numbers);
            prop_assert_eq!(l.to_json(), by_serde(&l));
        }
    }
}
