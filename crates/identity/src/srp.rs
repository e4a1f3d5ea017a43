//! The server side of Cognito's SRP-6a (USER_SRP_AUTH).
//!
//! Cognito's variant (reference/cognito.md §4): the 3072-bit group of
//! RFC 3526 with g = 2, SHA-256, Java `BigInteger.toByteArray()` encoding of
//! every number that is hashed, x = H(salt || H(poolName || userId || ":" ||
//! password)), and a 16-byte key from HKDF-SHA256 (salt u, key material S,
//! info "Caldera Derived Key") that signs poolName || userId || secret block
//! || timestamp. Big-number arithmetic is num-bigint's; hashing, HMAC and HKDF
//! are aws-lc-rs's. Only the protocol's arithmetic is written here, because no
//! crate implements Cognito's variant.

use std::sync::OnceLock;

use aws_lc_rs::hkdf;
use num_bigint::BigUint;

use crate::crypto;

const N_HEX: &str = concat!(
    "ffffffffffffffffc90fdaa22168c234c4c6628b80dc1cd129024e088a67cc74",
    "020bbea63b139b22514a08798e3404ddef9519b3cd3a431b302b0a6df25f1437",
    "4fe1356d6d51c245e485b576625e7ec6f44c42e9a637ed6b0bff5cb6f406b7ed",
    "ee386bfb5a899fa5ae9f24117c4b1fe649286651ece45b3dc2007cb8a163bf05",
    "98da48361c55d39a69163fa8fd24cf5f83655d23dca3ad961c62f356208552bb",
    "9ed529077096966d670c354e4abc9804f1746c08ca18217c32905e462e36ce3b",
    "e39e772c180e86039b2783a2ec07a28fb5c55df06f4c52c9de2bcbf695581718",
    "3995497cea956ae515d2261898fa051015728e5a8aaac42dad33170d04507a33",
    "a85521abdf1cba64ecfb850458dbef0a8aea71575d060c7db3970f85a6e1e4c7",
    "abf5ae8cdb0933d71e8c94e04a25619dcee3d2261ad2ee6bf12ffa06d98a0864",
    "d87602733ec86a64521f2b18177b200cbbe117577a615d6c770988c0bad946e2",
    "08e24fa074e5ab3143db5bfce0fd108e4b82d120a93ad2caffffffffffffffff",
);

fn n() -> &'static BigUint {
    static N: OnceLock<BigUint> = OnceLock::new();
    N.get_or_init(|| BigUint::parse_bytes(N_HEX.as_bytes(), 16).expect("N is hex"))
}

fn g() -> BigUint {
    BigUint::from(2u8)
}

/// k = H(PAD(N) || PAD(g)).
fn k() -> &'static BigUint {
    static K: OnceLock<BigUint> = OnceLock::new();
    K.get_or_init(|| {
        let mut data = pad(n());
        data.extend(pad(&g()));
        BigUint::from_bytes_be(&crypto::sha256(&data))
    })
}

/// Java `BigInteger.toByteArray()` of a non-negative number: big-endian,
/// with a leading zero byte when the top bit is set.
pub fn pad(value: &BigUint) -> Vec<u8> {
    let mut bytes = value.to_bytes_be();
    if bytes[0] & 0x80 != 0 {
        bytes.insert(0, 0);
    }
    bytes
}

pub fn to_hex(value: &BigUint) -> String {
    value.to_str_radix(16)
}

pub fn from_hex(text: &str) -> Option<BigUint> {
    if text.is_empty() || text.len() > 2048 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    BigUint::parse_bytes(text.as_bytes(), 16)
}

/// The part of a pool id after the first `_`, which SRP hashes.
pub fn pool_name(pool_id: &str) -> &str {
    pool_id.split_once('_').map_or(pool_id, |(_, name)| name)
}

fn x(pool_id: &str, user_id: &str, password: &str, salt: &BigUint) -> BigUint {
    let inner = crypto::sha256(format!("{}{user_id}:{password}", pool_name(pool_id)).as_bytes());
    let mut data = pad(salt);
    data.extend(inner);
    BigUint::from_bytes_be(&crypto::sha256(&data))
}

/// A user's SRP salt and verifier, hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    pub salt: String,
    pub verifier: String,
}

/// Makes a verifier for a password: v = g^x mod N with a random salt.
pub fn verifier(pool_id: &str, user_id: &str, password: &str) -> Verifier {
    let salt = BigUint::from_bytes_be(&crypto::random_bytes::<16>());
    verifier_with_salt(pool_id, user_id, password, &salt)
}

fn verifier_with_salt(pool_id: &str, user_id: &str, password: &str, salt: &BigUint) -> Verifier {
    let v = g().modpow(&x(pool_id, user_id, password, salt), n());
    Verifier {
        salt: to_hex(salt),
        verifier: to_hex(&v),
    }
}

/// Whether a client's public value is acceptable (A mod N != 0).
pub fn valid_public(a: &BigUint) -> bool {
    a % n() != BigUint::ZERO
}

/// The server's ephemeral pair for a verifier: (b, B = k·v + g^b mod N).
pub fn server_ephemeral(v: &BigUint) -> (BigUint, BigUint) {
    loop {
        let b = BigUint::from_bytes_be(&crypto::random_bytes::<32>());
        let big_b = (k() * v + g().modpow(&b, n())) % n();
        if big_b != BigUint::ZERO {
            return (b, big_b);
        }
    }
}

/// u = H(PAD(A) || PAD(B)).
fn u(a: &BigUint, big_b: &BigUint) -> BigUint {
    let mut data = pad(a);
    data.extend(pad(big_b));
    BigUint::from_bytes_be(&crypto::sha256(&data))
}

/// The session key: HKDF-SHA256(salt = PAD(u), ikm = PAD(S), info =
/// "Caldera Derived Key"), 16 bytes.
fn session_key(u: &BigUint, s: &BigUint) -> [u8; 16] {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &pad(u)).extract(&pad(s));
    let info = [b"Caldera Derived Key".as_slice()];
    let okm = prk
        .expand(&info, Len16)
        .expect("16 bytes are a valid HKDF length");
    let mut key = [0u8; 16];
    okm.fill(&mut key).expect("16 bytes fill");
    key
}

struct Len16;
impl hkdf::KeyType for Len16 {
    fn len(&self) -> usize {
        16
    }
}

/// The signature a client proves its password with.
fn signature(
    key: &[u8; 16],
    pool_id: &str,
    user_id: &str,
    secret_block: &[u8],
    timestamp: &str,
) -> Vec<u8> {
    let mut msg = Vec::with_capacity(64 + secret_block.len());
    msg.extend_from_slice(pool_name(pool_id).as_bytes());
    msg.extend_from_slice(user_id.as_bytes());
    msg.extend_from_slice(secret_block);
    msg.extend_from_slice(timestamp.as_bytes());
    crypto::hmac_sha256(key, &msg)
}

/// What the server kept from step 1.
pub struct ServerState<'a> {
    pub pool_id: &'a str,
    pub user_id: &'a str,
    pub v: &'a BigUint,
    pub a: &'a BigUint,
    pub b: &'a BigUint,
    pub big_b: &'a BigUint,
}

/// Checks a client's PASSWORD_CLAIM_SIGNATURE: S = (A · v^u)^b mod N, the
/// same key, the same HMAC over the received timestamp; compared in
/// constant time.
pub fn verify_claim(
    state: &ServerState<'_>,
    secret_block: &[u8],
    timestamp: &str,
    claim: &[u8],
) -> bool {
    let u = u(state.a, state.big_b);
    if u == BigUint::ZERO {
        return false;
    }
    let s = (state.a * state.v.modpow(&u, n())).modpow(state.b, n());
    let key = session_key(&u, &s);
    crypto::equal(
        &signature(&key, state.pool_id, state.user_id, secret_block, timestamp),
        claim,
    )
}

/// Parses Cognito's TIMESTAMP (`Tue Jan 2 03:04:05 UTC 2024`, day not
/// padded; a padded day is accepted too) into epoch seconds.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, month, day, clock, "UTC", year] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as u8 + 1;
    let mut hms = clock.split(':').map(|p| p.parse::<u8>().ok());
    let (Some(Some(h)), Some(Some(m)), Some(Some(s)), None) =
        (hms.next(), hms.next(), hms.next(), hms.next())
    else {
        return None;
    };
    let date = time::Date::from_calendar_date(
        year.parse().ok()?,
        time::Month::try_from(month).ok()?,
        day.parse().ok()?,
    )
    .ok()?;
    let t = time::Time::from_hms(h, m, s).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// The client side, for tests and the benchmark: A for a random a, and the
/// claim signature for a challenge.
pub mod client {
    use super::*;

    /// A client's secret a (1024 bits, as the SDKs use) and A = g^a.
    pub fn ephemeral() -> (BigUint, BigUint) {
        let a = BigUint::from_bytes_be(&crypto::random_bytes::<128>());
        let big_a = g().modpow(&a, n());
        (a, big_a)
    }

    /// A 256-bit a: the server's work does not depend on its size, so a
    /// load generator sharing the machine uses this to stay light.
    pub fn light_ephemeral() -> (BigUint, BigUint) {
        let a = BigUint::from_bytes_be(&crypto::random_bytes::<32>());
        let big_a = g().modpow(&a, n());
        (a, big_a)
    }

    /// The TIMESTAMP a client sends, in Java's format.
    pub fn timestamp(epoch: i64) -> String {
        let t = time::OffsetDateTime::from_unix_timestamp(epoch)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        format!(
            "{} {} {} {:02}:{:02}:{:02} UTC {}",
            DAYS[t.weekday().number_days_from_monday() as usize],
            MONTHS[t.month() as usize - 1],
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.year()
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub fn claim(
        pool_id: &str,
        user_id: &str,
        password: &str,
        salt: &BigUint,
        a: &BigUint,
        big_a: &BigUint,
        big_b: &BigUint,
        secret_block: &[u8],
        timestamp: &str,
    ) -> Vec<u8> {
        let u = u(big_a, big_b);
        let x = x(pool_id, user_id, password, salt);
        let gx = g().modpow(&x, n());
        let kgx = (k() * gx) % n();
        let base = (big_b + n() - kgx) % n();
        let s = base.modpow(&(a + &u * &x), n());
        signature(
            &session_key(&u, &s),
            pool_id,
            user_id,
            secret_block,
            timestamp,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repeated(seed: &str) -> BigUint {
        let h = crypto::sha256(seed.as_bytes());
        BigUint::from_bytes_be(&h.repeat(4))
    }

    /// reference/cognito.md §4.6, computed independently and cross-checked
    /// against pycognito.
    #[test]
    fn cognito_test_vector() {
        assert_eq!(
            to_hex(k()),
            "538282c4354742d7cbbde2359fcf67f9f5b3a6b08791e5011b43b8a5b66d9ee6"
        );
        let pool = "us-east-1_Abc123XYZ";
        let salt = from_hex("00f1e2d3c4b5a6978877665544332211").unwrap();
        let xv = x(pool, "alice", "Passw0rd!", &salt);
        assert_eq!(
            to_hex(&xv),
            "3a3ea92b3e3a58cd51ee027691aed34e56503e289ec3200975dbcab5097ea4af"
        );
        let v = g().modpow(&xv, n());
        let a = repeated("client-a");
        let big_a = g().modpow(&a, n());
        let b = repeated("server-b");
        let big_b = (k() * &v + g().modpow(&b, n())) % n();
        let uv = u(&big_a, &big_b);
        assert_eq!(
            to_hex(&uv),
            "6b1ed31839820da64c26fa564407460498a9238c99fa9af4f4089a70550b53f6"
        );
        let s = (&big_a * v.modpow(&uv, n())).modpow(&b, n());
        assert_eq!(
            crypto::hex(&crypto::sha256(&pad(&s))),
            "d2fb2d48d7b8f7bef8452681c213a1386d744c6f50acaeec862bb9c177e08eb2"
        );
        let key = session_key(&uv, &s);
        assert_eq!(crypto::hex(&key), "5794952b4cfe7bbab266ab9f5dbfbd51");
        let block = b"secret-block-demo";
        let ts = "Tue Jan 2 03:04:05 UTC 2024";
        let sig = signature(&key, pool, "alice", block, ts);
        assert_eq!(
            crypto::b64(&sig),
            "OITHWh9Q6+qP+wLHsaGuom/iEZ+uytCB/Nn+eZdq1Ww="
        );
        // The client side computes the same S, hence the same claim.
        let claim = client::claim(
            pool,
            "alice",
            "Passw0rd!",
            &salt,
            &a,
            &big_a,
            &big_b,
            block,
            ts,
        );
        assert_eq!(claim, sig);
        let state = ServerState {
            pool_id: pool,
            user_id: "alice",
            v: &v,
            a: &big_a,
            b: &b,
            big_b: &big_b,
        };
        assert!(verify_claim(&state, block, ts, &sig));
        assert!(!verify_claim(
            &state,
            block,
            "Tue Jan 2 03:04:06 UTC 2024",
            &sig
        ));
        let wrong = client::claim(
            pool, "alice", "Wrong!", &salt, &a, &big_a, &big_b, block, ts,
        );
        assert!(!verify_claim(&state, block, ts, &wrong));
    }

    #[test]
    fn fresh_verifiers_accept_the_password_only() {
        let ver = verifier("us-east-1_P", "bob", "S3cret-pass");
        let v = from_hex(&ver.verifier).unwrap();
        let salt = from_hex(&ver.salt).unwrap();
        let (b, big_b) = server_ephemeral(&v);
        let (a, big_a) = client::ephemeral();
        let ts = "Sun Nov 22 04:05:06 UTC 2026";
        let state = ServerState {
            pool_id: "us-east-1_P",
            user_id: "bob",
            v: &v,
            a: &big_a,
            b: &b,
            big_b: &big_b,
        };
        let good = client::claim(
            "us-east-1_P",
            "bob",
            "S3cret-pass",
            &salt,
            &a,
            &big_a,
            &big_b,
            b"blk",
            ts,
        );
        assert!(verify_claim(&state, b"blk", ts, &good));
        let other_user = client::claim(
            "us-east-1_P",
            "eve",
            "S3cret-pass",
            &salt,
            &a,
            &big_a,
            &big_b,
            b"blk",
            ts,
        );
        assert!(!verify_claim(&state, b"blk", ts, &other_user));
        assert!(!verify_claim(&state, b"other", ts, &good));
    }

    #[test]
    fn public_values_that_are_multiples_of_n_are_refused() {
        assert!(!valid_public(&BigUint::ZERO));
        assert!(!valid_public(n()));
        assert!(!valid_public(&(n() * BigUint::from(2u8))));
        assert!(valid_public(&BigUint::from(5u8)));
        assert!(from_hex("xyz").is_none());
        assert!(from_hex("").is_none());
    }

    #[test]
    fn client_timestamps_round_trip() {
        assert_eq!(client::timestamp(1704164645), "Tue Jan 2 03:04:05 UTC 2024");
        assert_eq!(
            parse_timestamp(&client::timestamp(1795320260)),
            Some(1795320260)
        );
    }

    #[test]
    fn timestamps_parse_as_java_writes_them() {
        assert_eq!(
            parse_timestamp("Tue Jan 2 03:04:05 UTC 2024"),
            Some(1704164645)
        );
        assert_eq!(
            parse_timestamp("Tue Jan 02 03:04:05 UTC 2024"),
            Some(1704164645)
        );
        assert_eq!(parse_timestamp("Tue Jan 2 03:04:05 GMT 2024"), None);
        assert_eq!(parse_timestamp("Tue Foo 2 03:04:05 UTC 2024"), None);
        assert_eq!(parse_timestamp("Tue Jan 32 03:04:05 UTC 2024"), None);
    }
}
