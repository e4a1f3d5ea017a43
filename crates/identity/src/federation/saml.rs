//! SAML 2.0 service provider for a pool's SAML identity providers:
//! SP-initiated sign-in with the HTTP-Redirect or HTTP-POST binding, and
//! the checks on the response that comes back by POST.
//!
//! The response is refused unless every one of these holds (SAML 2.0
//! profiles §4.1.4.3, and the usual attacks on SAML): no DTD at all (no
//! entity can be expanded, XXE and billion laughs included); status
//! Success; Destination (when given) is our ACS; InResponseTo is our
//! request; exactly one Assertion, a child of the Response, not encrypted;
//! that very element, or the Response around it, is covered by a valid
//! enveloped signature made with a key from the provider's metadata (keys
//! in the document itself are never trusted, and signature positions are
//! checked, against signature wrapping); issuers are the provider's; the
//! conditions' time window and our audience; a bearer subject
//! confirmation for our ACS and request, unexpired. The assertion's ID is
//! then kept until it expires, so it is used once.
//!
//! XML signatures are checked by bergshamra (a maintained pure-Rust
//! XML-DSig implementation) over the uppsala parser.

use std::collections::BTreeMap;
use std::io::Write as _;

use bergshamra_dsig::verify::verify_all_document_with_source;
use bergshamra_dsig::{DsigContext, VerifyResult};
use bergshamra_keys::KeysManager;
use cognate_store::providers::IdentityProvider;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uppsala::{Document, NodeId};

use crate::crypto;

pub const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const NS_METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
/// Clock difference allowed on the time conditions.
const SKEW_MS: i64 = 60_000;

/// What the pool needs from a provider's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata {
    pub entity_id: String,
    pub sso_redirect: Option<String>,
    pub sso_post: Option<String>,
    /// SingleLogoutService with the HTTP-Redirect binding.
    pub slo_redirect: Option<String>,
    /// Signing certificates (DER).
    pub certificates: Vec<Vec<u8>>,
}

/// The service provider's entity ID, as Cognito names it.
pub fn sp_entity_id(pool_id: &str) -> String {
    format!("urn:amazon:cognito:sp:{pool_id}")
}

/// Refuses XML that declares a DTD: SAML never needs one, and refusing
/// it before parsing rules out entity expansion of every kind.
fn no_dtd(xml: &str) -> Result<(), String> {
    let upper = xml.to_ascii_uppercase();
    if upper.contains("<!DOCTYPE") || upper.contains("<!ENTITY") {
        return Err("XML with a document type declaration is refused".into());
    }
    Ok(())
}

fn is(doc: &Document<'_>, id: NodeId, ns: &str, local: &str) -> bool {
    doc.element(id)
        .is_some_and(|e| e.matches_name_ns(ns, local))
}

fn children<'d>(
    doc: &'d Document<'_>,
    id: NodeId,
    ns: &'d str,
    local: &'d str,
) -> impl Iterator<Item = NodeId> + 'd {
    doc.children(id)
        .into_iter()
        .filter(move |c| is(doc, *c, ns, local))
}

fn child(doc: &Document<'_>, id: NodeId, ns: &str, local: &str) -> Option<NodeId> {
    children(doc, id, ns, local).next()
}

fn descendants(doc: &Document<'_>, id: NodeId, ns: &str, local: &str, out: &mut Vec<NodeId>) {
    for c in doc.children(id) {
        if is(doc, c, ns, local) {
            out.push(c);
        }
        descendants(doc, c, ns, local, out);
    }
}

fn text(doc: &Document<'_>, id: NodeId) -> String {
    doc.text_content_deep(id).trim().to_string()
}

/// Parses an IdP's metadata (an EntityDescriptor, or the first
/// IDPSSODescriptor of an EntitiesDescriptor).
pub fn parse_metadata(xml: &str) -> Result<IdpMetadata, String> {
    no_dtd(xml)?;
    let doc = uppsala::parse(xml).map_err(|e| format!("the metadata is not XML: {e}"))?;
    let root = doc.document_element().ok_or("the metadata is empty")?;
    let mut entities = Vec::new();
    if is(&doc, root, NS_METADATA, "EntityDescriptor") {
        entities.push(root);
    } else {
        descendants(&doc, root, NS_METADATA, "EntityDescriptor", &mut entities);
    }
    for entity in entities {
        let Some(idp) = child(&doc, entity, NS_METADATA, "IDPSSODescriptor") else {
            continue;
        };
        let entity_id = doc
            .get_attribute(entity, "entityID")
            .ok_or("the metadata has no entityID")?
            .to_string();
        let mut m = IdpMetadata {
            entity_id,
            sso_redirect: None,
            sso_post: None,
            slo_redirect: None,
            certificates: Vec::new(),
        };
        m.slo_redirect = children(&doc, idp, NS_METADATA, "SingleLogoutService")
            .find(|s| doc.get_attribute(*s, "Binding") == Some(BINDING_REDIRECT))
            .and_then(|s| doc.get_attribute(s, "Location"))
            .map(str::to_owned);
        for sso in children(&doc, idp, NS_METADATA, "SingleSignOnService") {
            let location = doc.get_attribute(sso, "Location").map(str::to_owned);
            match doc.get_attribute(sso, "Binding") {
                Some(BINDING_REDIRECT) if m.sso_redirect.is_none() => m.sso_redirect = location,
                Some(BINDING_POST) if m.sso_post.is_none() => m.sso_post = location,
                _ => {}
            }
        }
        for kd in children(&doc, idp, NS_METADATA, "KeyDescriptor") {
            if doc.get_attribute(kd, "use").is_some_and(|u| u != "signing") {
                continue;
            }
            let mut certs = Vec::new();
            descendants(&doc, kd, NS_DSIG, "X509Certificate", &mut certs);
            for c in certs {
                let b64: String = text(&doc, c)
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                let der = crypto::b64_decode(&b64)
                    .ok_or("a certificate in the metadata is not base64")?;
                m.certificates.push(der);
            }
        }
        if m.certificates.is_empty() {
            return Err("the metadata names no signing certificate".into());
        }
        if m.sso_redirect.is_none() && m.sso_post.is_none() {
            return Err("the metadata names no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding".into());
        }
        return Ok(m);
    }
    Err("the metadata has no IDPSSODescriptor".into())
}

fn instant(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn parse_instant(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s.trim(), &Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Where the browser goes with the AuthnRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SamlRequest {
    /// HTTP-Redirect: the full URL.
    Redirect(String),
    /// HTTP-POST: a form to post.
    Post {
        action: String,
        fields: Vec<(String, String)>,
    },
}

/// Builds the AuthnRequest for `meta` (HTTP-Redirect when the provider
/// offers it, else HTTP-POST), carrying `relay_state`.
pub fn authn_request(
    meta: &IdpMetadata,
    pool_id: &str,
    acs: &str,
    request_id: &str,
    relay_state: &str,
    now_ms: i64,
) -> Result<SamlRequest, String> {
    let destination = meta
        .sso_redirect
        .as_deref()
        .or(meta.sso_post.as_deref())
        .ok_or("no SingleSignOnService")?;
    let xml = format!(
        "<samlp:AuthnRequest xmlns:samlp=\"{NS_PROTOCOL}\" xmlns:saml=\"{NS_ASSERTION}\" ID=\"{id}\" Version=\"2.0\" \
         IssueInstant=\"{now}\" Destination=\"{dest}\" AssertionConsumerServiceURL=\"{acs}\" \
         ProtocolBinding=\"{BINDING_POST}\"><saml:Issuer>{issuer}</saml:Issuer>\
         <samlp:NameIDPolicy Format=\"urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified\" AllowCreate=\"true\"/>\
         </samlp:AuthnRequest>",
        id = xml_escape(request_id),
        now = instant(now_ms),
        dest = xml_escape(destination),
        acs = xml_escape(acs),
        issuer = xml_escape(&sp_entity_id(pool_id)),
    );
    match &meta.sso_redirect {
        Some(url) => {
            // HTTP-Redirect binding: raw DEFLATE, base64, then the query.
            let mut deflate =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            deflate
                .write_all(xml.as_bytes())
                .and_then(|_| deflate.flush())
                .map_err(|e| e.to_string())?;
            let packed = deflate.finish().map_err(|e| e.to_string())?;
            let mut u = url::Url::parse(url).map_err(|_| "the SingleSignOnService is not a URL")?;
            u.query_pairs_mut()
                .append_pair("SAMLRequest", &crypto::b64(&packed))
                .append_pair("RelayState", relay_state);
            Ok(SamlRequest::Redirect(u.into()))
        }
        None => Ok(SamlRequest::Post {
            action: destination.to_string(),
            fields: vec![
                ("SAMLRequest".into(), crypto::b64(xml.as_bytes())),
                ("RelayState".into(), relay_state.into()),
            ],
        }),
    }
}

/// RSA-SHA256, the signature algorithm of the Redirect binding.
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

fn deflate_b64(xml: &str) -> Result<String, String> {
    let mut deflate =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflate
        .write_all(xml.as_bytes())
        .map_err(|e| e.to_string())?;
    Ok(crypto::b64(&deflate.finish().map_err(|e| e.to_string())?))
}

/// What a LogoutRequest names: the person and the IdP session.
pub struct LogoutSubject<'a> {
    pub name_id: &'a str,
    pub session_index: Option<&'a str>,
}

/// A LogoutRequest for the HTTP-Redirect binding, signed with the pool's
/// key as that binding signs (SAML bindings §3.4.4.1: RSA-SHA256 over
/// `SAMLRequest=..&RelayState=..&SigAlg=..` as sent).
pub fn logout_request(
    meta: &IdpMetadata,
    pool_id: &str,
    request_id: &str,
    who: &LogoutSubject<'_>,
    relay_state: &str,
    key_pkcs8: &[u8],
    now_ms: i64,
) -> Result<String, String> {
    let destination = meta
        .slo_redirect
        .as_deref()
        .ok_or("no SingleLogoutService")?;
    let session = who
        .session_index
        .map(|i| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", xml_escape(i)))
        .unwrap_or_default();
    let xml = format!(
        "<samlp:LogoutRequest xmlns:samlp=\"{NS_PROTOCOL}\" xmlns:saml=\"{NS_ASSERTION}\" ID=\"{id}\" Version=\"2.0\" \
         IssueInstant=\"{now}\" Destination=\"{dest}\"><saml:Issuer>{issuer}</saml:Issuer>\
         <saml:NameID>{name}</saml:NameID>{session}</samlp:LogoutRequest>",
        id = xml_escape(request_id),
        now = instant(now_ms),
        dest = xml_escape(destination),
        issuer = xml_escape(&sp_entity_id(pool_id)),
        name = xml_escape(who.name_id),
    );
    let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let signed = format!(
        "SAMLRequest={}&RelayState={}&SigAlg={}",
        enc(&deflate_b64(&xml)?),
        enc(relay_state),
        enc(RSA_SHA256)
    );
    let key = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(key_pkcs8).map_err(|e| e.to_string())?;
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(
        &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        signed.as_bytes(),
        &mut sig,
    )
    .map_err(|e| e.to_string())?;
    let sep = if destination.contains('?') { '&' } else { '?' };
    Ok(format!(
        "{destination}{sep}{signed}&Signature={}",
        enc(&crypto::b64(&sig))
    ))
}

/// The request a LogoutResponse (Redirect binding: DEFLATE, base64)
/// answers, and whether it says Success.
pub fn logout_response(encoded: &str) -> Result<(String, bool), String> {
    let raw: String = encoded.chars().filter(|c| !c.is_whitespace()).collect();
    let packed = crypto::b64_decode(&raw).ok_or("not base64")?;
    let mut xml = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::DeflateDecoder::new(&packed[..]),
        &mut xml,
    )
    .map_err(|e| format!("not DEFLATE: {e}"))?;
    no_dtd(&xml)?;
    let doc = uppsala::parse(&xml).map_err(|e| format!("not XML: {e}"))?;
    let root = doc.document_element().ok_or("empty")?;
    if !is(&doc, root, NS_PROTOCOL, "LogoutResponse") {
        return Err("not a LogoutResponse".into());
    }
    let answers = doc
        .get_attribute(root, "InResponseTo")
        .ok_or("no InResponseTo")?
        .to_string();
    let ok = child(&doc, root, NS_PROTOCOL, "Status")
        .and_then(|s| child(&doc, s, NS_PROTOCOL, "StatusCode"))
        .and_then(|c| doc.get_attribute(c, "Value"))
        == Some(SUCCESS);
    Ok((answers, ok))
}

/// What a verified assertion says.
#[derive(Debug, Clone, PartialEq)]
pub struct SamlIdentity {
    pub assertion_id: String,
    /// Until when the assertion could be used (its ID is kept that long).
    pub expires_ms: i64,
    pub name_id: String,
    /// The IdP's session (AuthnStatement SessionIndex), for single logout.
    pub session_index: Option<String>,
    /// Every attribute, by its Name, with its values.
    pub attributes: BTreeMap<String, Vec<String>>,
}

impl SamlIdentity {
    /// The claims attribute mapping reads: each attribute's values (one
    /// value as text; several joined by commas), and the NameID.
    pub fn claims(&self) -> Map<String, Value> {
        let mut out = Map::new();
        for (name, values) in &self.attributes {
            out.insert(name.clone(), json!(values.join(",")));
        }
        out.insert("NameID".into(), json!(self.name_id));
        out
    }
}

/// What the response must match.
pub struct Expected<'a> {
    pub meta: &'a IdpMetadata,
    pub sp_entity_id: &'a str,
    pub acs: &'a str,
    /// The AuthnRequest answered; None: an IdP-initiated response, which
    /// must then answer none.
    pub request_id: Option<&'a str>,
    pub now_ms: i64,
    /// The pool's private key (PKCS#8 DER) when the provider encrypts its
    /// assertions (EncryptedResponses); None: encrypted ones are refused.
    pub decryption_key: Option<&'a [u8]>,
}

/// Checks a SAML Response (the decoded XML) as the module's rules say.
/// An encrypted assertion is decrypted with the pool's key first (XML
/// Encryption by bergshamra; CipherReference, which would fetch, is off)
/// and must then carry its own signature: a signature over the Response
/// covered the encrypted form, not what was decrypted.
pub fn verify_response(xml: &str, e: &Expected<'_>) -> Result<SamlIdentity, String> {
    no_dtd(xml)?;
    if !xml.contains("EncryptedAssertion") {
        return verify_parsed(xml, e, false);
    }
    let key = e
        .decryption_key
        .ok_or("encrypted assertions are not accepted from this provider (EncryptedResponses)")?;
    let plain = decrypt(xml, key)?;
    verify_parsed(&plain, e, true)
}

fn decrypt(xml: &str, key_pkcs8: &[u8]) -> Result<String, String> {
    let body: Vec<String> = crypto::b64(key_pkcs8)
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        body.join("\n")
    );
    let key = bergshamra_keys::loader::load_pem_auto(pem.as_bytes(), None)
        .map_err(|e| format!("the pool's key cannot be read: {e}"))?;
    let mut keys = KeysManager::new();
    keys.add_key(key);
    let ctx = bergshamra_enc::EncContext::new(keys).with_disable_cipher_reference(true);
    bergshamra_enc::decrypt::decrypt(&ctx, xml)
        .map_err(|e| format!("the assertion cannot be decrypted: {e}"))
}

fn verify_parsed(xml: &str, e: &Expected<'_>, decrypted: bool) -> Result<SamlIdentity, String> {
    let doc = uppsala::parse(xml).map_err(|err| format!("the response is not XML: {err}"))?;
    let root = doc.document_element().ok_or("the response is empty")?;
    if !is(&doc, root, NS_PROTOCOL, "Response") {
        return Err("the document is not a SAML Response".into());
    }
    let status = child(&doc, root, NS_PROTOCOL, "Status")
        .and_then(|s| child(&doc, s, NS_PROTOCOL, "StatusCode"))
        .and_then(|c| doc.get_attribute(c, "Value"))
        .unwrap_or("");
    if status != SUCCESS {
        return Err(format!("the provider answered with status {status}"));
    }
    if doc
        .get_attribute(root, "Destination")
        .is_some_and(|d| d != e.acs)
    {
        return Err("the response is for another Destination".into());
    }
    if doc.get_attribute(root, "InResponseTo") != e.request_id {
        return Err(match e.request_id {
            Some(_) => "the response does not answer our request".into(),
            None => "an IdP-initiated response answers a request".into(),
        });
    }
    if let Some(issuer) = child(&doc, root, NS_ASSERTION, "Issuer") {
        if text(&doc, issuer) != e.meta.entity_id {
            return Err("the response's issuer is not the provider".into());
        }
    }
    let mut encrypted = Vec::new();
    descendants(
        &doc,
        root,
        NS_ASSERTION,
        "EncryptedAssertion",
        &mut encrypted,
    );
    let mut assertions = Vec::new();
    descendants(&doc, root, NS_ASSERTION, "Assertion", &mut assertions);
    let [assertion] = assertions[..] else {
        return Err(format!(
            "the response holds {} assertions, not one",
            assertions.len()
        ));
    };
    let holder = if decrypted {
        // Decrypted in place: Response / EncryptedAssertion / Assertion,
        // and nothing else encrypted left.
        let [wrapper] = encrypted[..] else {
            return Err("the response holds more than one encrypted assertion".into());
        };
        if doc.parent(wrapper) != Some(root) {
            return Err("the encrypted assertion is not a child of the response".into());
        }
        wrapper
    } else {
        if !encrypted.is_empty() {
            return Err("an encrypted assertion was not decrypted".into());
        }
        root
    };
    if doc.parent(assertion) != Some(holder) {
        return Err("the assertion is not a child of the response".into());
    }
    // After decryption only the assertion's own signature counts.
    let signed_response = if decrypted { assertion } else { root };
    check_signature(&doc, xml, e.meta, signed_response, assertion)?;

    let issuer = child(&doc, assertion, NS_ASSERTION, "Issuer").map(|i| text(&doc, i));
    if issuer.as_deref() != Some(e.meta.entity_id.as_str()) {
        return Err("the assertion's issuer is not the provider".into());
    }
    let assertion_id = doc
        .get_attribute(assertion, "ID")
        .filter(|id| !id.is_empty())
        .ok_or("the assertion has no ID")?
        .to_string();
    let now = e.now_ms;
    let mut expires = now + 5 * 60_000;
    let conditions = child(&doc, assertion, NS_ASSERTION, "Conditions")
        .ok_or("the assertion has no Conditions")?;
    if let Some(nb) = doc.get_attribute(conditions, "NotBefore") {
        let nb = parse_instant(nb).ok_or("bad NotBefore")?;
        if nb > now + SKEW_MS {
            return Err("the assertion is not valid yet".into());
        }
    }
    if let Some(na) = doc.get_attribute(conditions, "NotOnOrAfter") {
        let na = parse_instant(na).ok_or("bad NotOnOrAfter")?;
        if na + SKEW_MS <= now {
            return Err("the assertion has expired".into());
        }
        expires = expires.min(na + SKEW_MS);
    }
    let restrictions: Vec<NodeId> =
        children(&doc, conditions, NS_ASSERTION, "AudienceRestriction").collect();
    if restrictions.is_empty() {
        return Err("the assertion names no audience".into());
    }
    for r in restrictions {
        if !children(&doc, r, NS_ASSERTION, "Audience").any(|a| text(&doc, a) == e.sp_entity_id) {
            return Err("the assertion is for another audience".into());
        }
    }
    let subject =
        child(&doc, assertion, NS_ASSERTION, "Subject").ok_or("the assertion has no Subject")?;
    let name_id = child(&doc, subject, NS_ASSERTION, "NameID")
        .map(|n| text(&doc, n))
        .filter(|n| !n.is_empty())
        .ok_or("the assertion has no NameID")?;
    let confirmed = children(&doc, subject, NS_ASSERTION, "SubjectConfirmation").any(|sc| {
        if doc.get_attribute(sc, "Method") != Some(BEARER) {
            return false;
        }
        let Some(data) = child(&doc, sc, NS_ASSERTION, "SubjectConfirmationData") else {
            return false;
        };
        let recipient = doc.get_attribute(data, "Recipient") == Some(e.acs);
        let answers = match (doc.get_attribute(data, "InResponseTo"), e.request_id) {
            (None, _) => true,
            (Some(r), Some(ours)) => r == ours,
            (Some(_), None) => false,
        };
        let fresh = doc
            .get_attribute(data, "NotOnOrAfter")
            .and_then(parse_instant)
            .is_some_and(|na| na + SKEW_MS > now);
        recipient && answers && fresh
    });
    if !confirmed {
        return Err("no bearer subject confirmation for this service provider".into());
    }
    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for statement in children(&doc, assertion, NS_ASSERTION, "AttributeStatement") {
        for attribute in children(&doc, statement, NS_ASSERTION, "Attribute") {
            let Some(name) = doc.get_attribute(attribute, "Name") else {
                continue;
            };
            let values: Vec<String> = children(&doc, attribute, NS_ASSERTION, "AttributeValue")
                .map(|v| text(&doc, v))
                .collect();
            attributes
                .entry(name.to_string())
                .or_default()
                .extend(values);
        }
    }
    let session_index = child(&doc, assertion, NS_ASSERTION, "AuthnStatement")
        .and_then(|a| doc.get_attribute(a, "SessionIndex"))
        .map(str::to_owned);
    Ok(SamlIdentity {
        assertion_id,
        expires_ms: expires,
        name_id,
        session_index,
        attributes,
    })
}

/// The issuer a response claims (not yet verified): which provider to
/// check an IdP-initiated response with.
pub fn claimed_issuer(xml: &str) -> Option<String> {
    no_dtd(xml).ok()?;
    let doc = uppsala::parse(xml).ok()?;
    let root = doc.document_element()?;
    let from_response = child(&doc, root, NS_ASSERTION, "Issuer");
    let from_assertion = child(&doc, root, NS_ASSERTION, "Assertion")
        .and_then(|a| child(&doc, a, NS_ASSERTION, "Issuer"));
    from_response.or(from_assertion).map(|i| text(&doc, i))
}

/// The assertion, or the response that holds it, must be covered by a
/// valid signature made with one of the metadata's certificates.
fn check_signature(
    doc: &Document<'_>,
    xml: &str,
    meta: &IdpMetadata,
    response: NodeId,
    assertion: NodeId,
) -> Result<(), String> {
    let mut keys = KeysManager::new();
    for der in &meta.certificates {
        let key = bergshamra_keys::loader::load_x509_cert_der(der)
            .map_err(|e| format!("a metadata certificate cannot be read: {e}"))?;
        keys.add_key(key);
    }
    // Trusted keys only (never a key from the document) and strict
    // reference positions: the defaults built for SAML. `ID` is among the
    // ID attributes it knows; a duplicated ID fails the whole document.
    let ctx = DsigContext::new(keys);
    let results = verify_all_document_with_source(&ctx, doc, Some(xml))
        .map_err(|e| format!("the response is not signed: {e}"))?;
    let covered = results.iter().any(|r| match r {
        VerifyResult::Valid { references, .. } => {
            r.all_reference_digests_verified()
                && references.iter().any(|x| {
                    x.resolved_node == Some(assertion) || x.resolved_node == Some(response)
                })
        }
        VerifyResult::Invalid { .. } => false,
    });
    if covered {
        return Ok(());
    }
    let reasons: Vec<String> = results
        .iter()
        .filter_map(|r| match r {
            VerifyResult::Invalid { reason } => Some(reason.clone()),
            _ => None,
        })
        .collect();
    Err(format!(
        "no valid signature of the provider covers the assertion ({})",
        reasons.join("; ")
    ))
}

/// A provider's metadata, from MetadataFile or fetched from MetadataURL.
pub(crate) fn metadata_source(p: &IdentityProvider) -> Result<MetadataSource<'_>, String> {
    if let Some(file) = p.details.get("MetadataFile").filter(|f| !f.is_empty()) {
        return Ok(MetadataSource::Inline(file));
    }
    if let Some(url) = p.details.get("MetadataURL").filter(|f| !f.is_empty()) {
        return Ok(MetadataSource::Url(url));
    }
    Err("no MetadataFile or MetadataURL".into())
}

pub(crate) enum MetadataSource<'a> {
    Inline(&'a str),
    Url(&'a str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dtd_is_refused_before_parsing() {
        let xxe = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>";
        assert!(parse_metadata(xxe).unwrap_err().contains("document type"));
        let e = Expected {
            meta: &IdpMetadata {
                entity_id: "idp".into(),
                sso_redirect: None,
                sso_post: None,
                slo_redirect: None,
                certificates: Vec::new(),
            },
            sp_entity_id: "sp",
            acs: "https://a/saml2/idpresponse",
            request_id: Some("_1"),
            now_ms: 0,
            decryption_key: None,
        };
        assert!(verify_response(xxe, &e)
            .unwrap_err()
            .contains("document type"));
        assert!(verify_response("<!doctype x><x/>", &e)
            .unwrap_err()
            .contains("document type"));
    }

    #[test]
    fn instants_round_trip() {
        assert_eq!(instant(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(
            parse_instant("2023-11-14T22:13:20Z"),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            parse_instant("2023-11-14T22:13:20.5Z"),
            Some(1_700_000_000_500)
        );
        assert_eq!(parse_instant("yesterday"), None);
    }

    #[test]
    fn the_redirect_binding_deflates_and_carries_the_relay_state() {
        let meta = IdpMetadata {
            entity_id: "idp".into(),
            sso_redirect: Some("https://idp.test/sso?x=1".into()),
            sso_post: None,
            slo_redirect: None,
            certificates: vec![vec![1]],
        };
        let SamlRequest::Redirect(url) = authn_request(
            &meta,
            "us-east-1_a",
            "https://d/saml2/idpresponse",
            "_r1",
            "rs",
            0,
        )
        .unwrap() else {
            panic!("redirect expected");
        };
        let u = url::Url::parse(&url).unwrap();
        let q: BTreeMap<String, String> = u.query_pairs().into_owned().collect();
        assert_eq!(q["x"], "1");
        assert_eq!(q["RelayState"], "rs");
        let packed = crypto::b64_decode(&q["SAMLRequest"]).unwrap();
        let mut xml = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::DeflateDecoder::new(&packed[..]),
            &mut xml,
        )
        .unwrap();
        assert!(xml.contains("ID=\"_r1\"") && xml.contains("urn:amazon:cognito:sp:us-east-1_a"));
        assert!(xml.contains("AssertionConsumerServiceURL=\"https://d/saml2/idpresponse\""));
    }
}
