//! Unpredictable values from the operating system's CSPRNG: SIP tags and branches, RTP SSRCs.
//! A tag or SSRC that could be guessed (a hash of the Call-ID and the time) would let a stranger
//! forge requests inside someone's dialog.

fn bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The OS generator does not fail on Linux once booted; zeros would only weaken, not break, us.
    let _ = getrandom::fill(&mut b);
    b
}

/// 64 random bits as 16 hex digits.
pub fn token() -> String {
    hex::encode(bytes::<8>())
}

pub fn u32() -> u32 {
    u32::from_ne_bytes(bytes::<4>())
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_differ() {
        let a = super::token();
        assert_eq!(a.len(), 16);
        assert_ne!(a, super::token());
        assert_ne!(super::u32(), super::u32());
    }
}
