//! SDP offer/answer (RFC 3264) for audio: PCMU or PCMA, and telephone-event (RFC 4733).

use crate::media::g711::Codec;
use std::net::{IpAddr, SocketAddr};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Where the caller wants our RTP.
    pub remote: SocketAddr,
    pub codec: Codec,
    pub telephone_event: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("no audio stream")]
    NoAudio,
    #[error("no common codec (PCMU or PCMA)")]
    NoCodec,
    #[error("no connection address")]
    NoAddress,
    #[error("the connection address is not one a phone sends from (multicast, broadcast or unspecified)")]
    BadAddress,
}

/// Reads an offer (or an answer to our offer): the audio stream's address, the codec we will use
/// (PCMU preferred), and the telephone-event payload type if any.
pub fn parse(sdp: &str) -> Result<Offer, SdpError> {
    let mut session_addr: Option<IpAddr> = None;
    let mut media_addr: Option<IpAddr> = None;
    let mut port = None;
    let mut formats: Vec<u8> = Vec::new();
    let mut rtpmap: Vec<(u8, String)> = Vec::new();
    let mut in_audio = false;
    let mut seen_media = false;
    for line in sdp.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("m=") {
            seen_media = true;
            let mut it = rest.split_whitespace();
            in_audio = it.next() == Some("audio") && port.is_none();
            if in_audio {
                port = it.next().and_then(|p| p.split('/').next()?.parse::<u16>().ok());
                let _proto = it.next();
                formats = it.filter_map(|f| f.parse().ok()).collect();
            }
        } else if let Some(rest) = line.strip_prefix("c=") {
            let addr = rest.split_whitespace().nth(2).and_then(|a| a.split('/').next()?.parse().ok());
            if !seen_media {
                session_addr = addr;
            } else if in_audio {
                media_addr = addr;
            }
        } else if let Some(rest) = line.strip_prefix("a=rtpmap:")
            && in_audio
            && let Some((pt, name)) = rest.split_once(' ')
            && let Ok(pt) = pt.parse()
        {
            rtpmap.push((pt, name.to_ascii_lowercase()));
        }
    }
    // Port 0 declines the stream (RFC 3264 §6).
    let port = port.filter(|&p| p != 0).ok_or(SdpError::NoAudio)?;
    let addr = media_addr.or(session_addr).ok_or(SdpError::NoAddress)?;
    let unusable = match addr {
        IpAddr::V4(v4) => v4.is_multicast() || v4.is_broadcast() || v4.is_unspecified(),
        IpAddr::V6(v6) => v6.is_multicast() || v6.is_unspecified(),
    };
    if unusable {
        return Err(SdpError::BadAddress);
    }
    let named = |pt: u8| rtpmap.iter().find(|(p, _)| *p == pt).map(|(_, n)| n.as_str());
    let codec = formats
        .iter()
        .find_map(|&pt| match (pt, named(pt)) {
            (0, _) => Some(Codec::Pcmu),
            (8, _) => Some(Codec::Pcma),
            (_, Some(n)) if n.starts_with("pcmu/8000") => Some(Codec::Pcmu),
            (_, Some(n)) if n.starts_with("pcma/8000") => Some(Codec::Pcma),
            _ => None,
        })
        .ok_or(SdpError::NoCodec)?;
    let telephone_event =
        formats.iter().copied().find(|&pt| named(pt).is_some_and(|n| n.starts_with("telephone-event/8000")));
    Ok(Offer { remote: SocketAddr::new(addr, port), codec, telephone_event })
}

/// Our SDP: the answer to an offer (its codec and event type), or, with `offer` None, an
/// offer of both G.711 laws and telephone-event 101.
pub fn describe(local: SocketAddr, session_id: u64, answer_to: Option<&Offer>) -> String {
    let ip = local.ip();
    let family = if ip.is_ipv6() { "IP6" } else { "IP4" };
    let (formats, maps) = match answer_to {
        Some(o) => {
            let mut formats = vec![o.codec.payload_type().to_string()];
            let mut maps = vec![format!("a=rtpmap:{} {}/8000", o.codec.payload_type(), o.codec.name())];
            if let Some(pt) = o.telephone_event {
                formats.push(pt.to_string());
                maps.push(format!("a=rtpmap:{pt} telephone-event/8000\r\na=fmtp:{pt} 0-15"));
            }
            (formats.join(" "), maps.join("\r\n"))
        }
        None => (
            "0 8 101".to_owned(),
            "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15"
                .to_owned(),
        ),
    };
    format!(
        "v=0\r\no=madoguchi {session_id} {session_id} IN {family} {ip}\r\ns=madoguchi\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
m=audio {} RTP/AVP {formats}\r\n{maps}\r\na=ptime:20\r\na=sendrecv\r\n",
        local.port()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_are_answered_with_one_codec_and_events() {
        let offer = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 18 8 0 96\r\na=rtpmap:18 G729/8000\r\na=rtpmap:96 telephone-event/8000\r\n";
        let o = parse(offer).unwrap();
        assert_eq!(
            o,
            Offer { remote: "192.0.2.1:40000".parse().unwrap(), codec: Codec::Pcma, telephone_event: Some(96) }
        );
        let answer = describe("127.0.0.1:20000".parse().unwrap(), 7, Some(&o));
        assert!(answer.contains("m=audio 20000 RTP/AVP 8 96\r\n"), "{answer}");
        assert!(answer.contains("a=rtpmap:96 telephone-event/8000"), "{answer}");
        assert_eq!(parse(&answer).unwrap().codec, Codec::Pcma);
    }

    #[test]
    fn unusable_offers_are_refused() {
        assert_eq!(parse("v=0\r\nc=IN IP4 1.2.3.4\r\nm=video 5 RTP/AVP 31\r\n"), Err(SdpError::NoAudio));
        assert_eq!(parse("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5 RTP/AVP 18\r\n"), Err(SdpError::NoCodec));
        assert_eq!(parse("v=0\r\nm=audio 5 RTP/AVP 0\r\n"), Err(SdpError::NoAddress));
        assert_eq!(parse("v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 0 RTP/AVP 0\r\n"), Err(SdpError::NoAudio));
        for bad in ["224.0.0.1", "255.255.255.255", "0.0.0.0"] {
            let sdp = format!("v=0\r\nc=IN IP4 {bad}\r\nm=audio 4000 RTP/AVP 0\r\n");
            assert_eq!(parse(&sdp), Err(SdpError::BadAddress), "{bad}");
        }
        let ours = describe("10.0.0.1:30000".parse().unwrap(), 1, None);
        assert_eq!(parse(&ours).unwrap().telephone_event, Some(101));
    }
}
