use proptest::prelude::*;

use super::*;

#[test]
fn whole_addresses_are_masked_and_other_text_stays() {
    assert_eq!(
        mask_emails("user a.b+c@x.example, id 12 @home"),
        "user ***@***, id 12 @home"
    );
    assert_eq!(
        mask_emails(r#"{"email":"ada@acme.test","id":"E1"}"#),
        r#"{"email":"***@***","id":"E1"}"#
    );
}

#[test]
fn partial_bare_and_encoded_addresses_are_masked() {
    let cases = [
        ("to <ada@acme.test>.", "to <***@***>."),
        ("local ada@localhost here", "local ***@*** here"),
        ("cut after the at: zelda.pii@", "cut after the at: ***@***"),
        ("domain only (@acme.example.com)", "domain only (***@***)"),
        ("quoted \"ada lovelace\"@acme.test ok", "quoted ***@*** ok"),
        ("quoted \"ada\"@localhost ok", "quoted ***@*** ok"),
        ("url ?email=ada%40acme.test&x=1", "url ***@***"),
        ("url ADA%40ACME.TEST", "url ***@***"),
        (r"json ada\u0040acme.test", "json ***@***"),
        ("html ada&#64;acme.test", "html ***@***"),
        ("wide ada＠acme.test", "wide ***@***"),
        ("glued xxada@acme.testyy", "glued ***@***"),
        (r#"json log "ada\u0040acme.test""#, r#"json log "***@***""#),
    ];
    for (text, masked) in cases {
        assert_eq!(mask_emails(text), masked, "{text}");
        assert!(has_at_sign(text), "{text}");
    }
    assert!(!has_at_sign("no address, 40% off"));
}

#[test]
fn quotes_that_are_not_a_local_part_are_kept() {
    assert_eq!(mask_emails("say \"hi\" @home"), "say \"hi\" @home");
    assert_eq!(mask_emails("\"a\nb\"@x.test"), "\"a\nb\"***@***");
}

#[test]
fn excerpts_mask_before_they_cut() {
    let body = format!("{} zelda.pii.epistemology@acme.test", "x".repeat(20));
    assert_eq!(excerpt(&body, 30), format!("{} ***@***", "x".repeat(20)));
    let short = excerpt(&body, 25);
    assert_eq!(short, format!("{} ***…", "x".repeat(20)));
    assert!(!short.contains("zel"), "{short}");
    assert_eq!(excerpt("a\n  b\tc", 10), "a b c");
    assert_eq!(excerpt("abcdef", 3), "ab…");
}

#[test]
fn redact_removes_values_and_values_cut_by_an_excerpt() {
    let values = ["Zelda Epistemology", "Zelda", "Epistemology"];
    assert_eq!(
        redact("user Zelda Epistemology (z@acme.test) exists", &values),
        "user *** (***@***) exists"
    );
    assert_eq!(redact("user z@acme.test", &["z@acme.test"]), "user ***");
    assert_eq!(
        redact("HTTP 409: user Zelda Epist…", &values),
        "HTTP 409: user *** ***…"
    );
    assert_eq!(
        redact("HTTP 409: conflict…", &values),
        "HTTP 409: conflict…"
    );
    assert_eq!(redact("id A1 A", &["A"]), "id A1 A");
}

/// An address in one of the shapes apps and events write, and its pieces.
#[derive(Debug, Clone)]
struct Address {
    text: String,
    local: String,
    domain: String,
    /// Where its at-sign ends (a cut after it still leaves a recognisable part).
    after_at: usize,
}

fn address() -> impl Strategy<Value = Address> {
    let local = "[a-z0-9][a-z0-9._+-]{3,20}";
    let label = "[a-z0-9]{2,10}";
    let domain = prop::collection::vec(label, 1..4).prop_map(|labels| labels.join("."));
    (local, domain, 0..5usize).prop_map(|(local, domain, shape)| {
        let (before, at, after) = match shape {
            0 => ("", "@", ""),
            1 => ("<", "@", ">"),
            2 => ("\"", " jr\"@", ""),
            3 => ("", "%40", ""),
            _ => ("mailto:", "@", ""),
        };
        let head = format!("{before}{local}{at}");
        Address {
            after_at: head.chars().count(),
            text: format!("{head}{domain}{after}"),
            local,
            domain,
        }
    })
}

/// Text around an address that shares no character with one (so any
/// fragment found in the output must come from the address).
fn filler() -> impl Strategy<Value = String> {
    "[A-Z ,;:()\\[\\]\n\t]{0,120}"
}

/// Every fragment of at least four characters of the address's parts.
fn fragments(address: &Address) -> Vec<String> {
    let mut out = Vec::new();
    for part in [&address.local, &address.domain] {
        let chars: Vec<char> = part.chars().collect();
        for start in 0..chars.len() {
            for end in start + 4..=chars.len() {
                out.push(chars[start..end].iter().collect());
            }
        }
    }
    out
}

fn assert_no_fragment(masked: &str, address: &Address) -> Result<(), TestCaseError> {
    for fragment in fragments(address) {
        prop_assert!(
            !masked.contains(&fragment),
            "{fragment:?} of {:?} survives in {masked:?}",
            address.text
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Our own cut, anywhere: nothing of the address survives.
    #[test]
    fn no_fragment_survives_an_excerpt(
        before in filler(),
        address in address(),
        after in filler(),
        cut in 0..300usize,
    ) {
        let text = format!("{before}{}{after}", address.text);
        assert_no_fragment(&excerpt(&text, cut), &address)?;
        assert_no_fragment(&mask_emails(&text), &address)?;
    }

    /// A body the app itself cut after the at-sign (`zelda@acm`), then our
    /// cut: still nothing survives.
    #[test]
    fn no_fragment_survives_an_address_cut_after_its_at_sign(
        before in filler(),
        address in address(),
        keep in 0..40usize,
        cut in 0..300usize,
    ) {
        let total = address.text.chars().count();
        let keep = address.after_at + keep.min(total - address.after_at);
        let partial: String = address.text.chars().take(keep).collect();
        let text = format!("{before}{partial}");
        assert_no_fragment(&excerpt(&text, cut), &address)?;
    }
}
