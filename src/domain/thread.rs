//! When a mail may join the ticket it refers to. A ticket number in a subject, or a Message-ID in
//! In-Reply-To or References, is not a key: anyone can write one. It joins only a ticket the
//! sender already takes part in (an address that wrote to it, or was acknowledged or answered
//! from it), or when the sender's domain is one the admin trusts for this; otherwise the mail
//! opens a ticket of its own that names the one it mentioned, for an operator to merge.

/// How the sender of a mail that refers to a ticket stands to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Participant,
    TrustedDomain,
    Stranger,
}

impl Standing {
    pub fn may_join(self) -> bool {
        self != Standing::Stranger
    }
}

/// Whether `address`'s domain is one of `domains` (`example.go.jp` or `@example.go.jp`, any case).
pub fn in_domains(address: &str, domains: &[String]) -> bool {
    let Some((_, domain)) = address.trim().rsplit_once('@') else { return false };
    domains.iter().any(|d| d.trim().trim_start_matches('@').eq_ignore_ascii_case(domain.trim_end_matches('>')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_participants_and_trusted_domains_join() {
        let table = [(Standing::Participant, true), (Standing::TrustedDomain, true), (Standing::Stranger, false)];
        for (standing, joins) in table {
            assert_eq!(standing.may_join(), joins, "{standing:?}");
        }
        let trusted = vec!["mhlw.go.jp".to_owned(), "@Example.GO.jp".to_owned()];
        assert!(in_domains("sato@mhlw.go.jp", &trusted));
        assert!(in_domains("Yamada@example.go.jp", &trusted));
        assert!(!in_domains("evil@mhlw.go.jp.attacker.example", &trusted));
        assert!(!in_domains("sub.mhlw.go.jp", &trusted), "no address");
        assert!(!in_domains("x@sub.mhlw.go.jp", &trusted), "subdomains are not listed ones");
    }
}
