//! RTP: a paced sender (every 20 ms from a monotonic start, so a long announcement does not
//! drift), and a receiver that reads RFC 4733 telephone events once each and notes when media
//! last arrived.

use super::g711::Codec;
use rtp_rs::{RtpPacketBuilder, RtpReader, Seq};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::Instant;

/// Samples in one 20 ms packet at 8 kHz.
pub const FRAME: usize = 160;
pub const PTIME: Duration = Duration::from_millis(20);

/// Sends audio to one peer with continuous sequence numbers and timestamps across prompts.
pub struct Sender {
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    first: bool,
    codec: Codec,
    /// When the next packet is due.
    next: Option<Instant>,
}

impl Sender {
    pub fn new(codec: Codec, ssrc: u32) -> Sender {
        Sender { ssrc, seq: (ssrc >> 16) as u16, timestamp: ssrc.rotate_left(7), first: true, codec, next: None }
    }

    /// Sends `samples` in 20 ms packets, each at its due time on the monotonic clock.
    pub async fn play(&mut self, socket: &UdpSocket, peer: SocketAddr, samples: &[i16]) -> std::io::Result<()> {
        let mut next = self.next.filter(|n| *n + PTIME > Instant::now()).unwrap_or_else(Instant::now);
        for frame in samples.chunks(FRAME) {
            // The last frame of a prompt is padded with silence.
            let mut payload = self.codec.encode(frame);
            payload.resize(FRAME, self.codec.silence());
            let packet = RtpPacketBuilder::new()
                .payload_type(self.codec.payload_type())
                .ssrc(self.ssrc)
                .sequence(Seq::from(self.seq))
                .timestamp(self.timestamp)
                .marked(self.first)
                .payload(&payload)
                .build()
                .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
            tokio::time::sleep_until(next).await;
            socket.send_to(&packet, peer).await?;
            self.first = false;
            self.seq = self.seq.wrapping_add(1);
            self.timestamp = self.timestamp.wrapping_add(FRAME as u32);
            next += PTIME;
        }
        self.next = Some(next);
        Ok(())
    }
}

/// Which sources may send us a call's RTP. A caller whose SDP names where it sends from is held
/// to that address and port exactly. A caller behind NAT (its SDP names a private address, but
/// its signalling comes from elsewhere) cannot know its outside port, so the first packet from
/// its signalling address latches, as rtpengine's symmetric mode does, and only that source
/// counts from then on. Anything else is dropped and counted: a stranger can neither press keys
/// in someone's call nor keep it alive.
#[derive(Debug, Clone)]
pub struct SourceFilter {
    expected: SocketAddr,
    /// Where a NATed caller's packets may latch from; `None` when the caller is not behind NAT.
    latch_from: Option<std::net::IpAddr>,
    latched: Option<SocketAddr>,
    dropped: u64,
}

impl SourceFilter {
    pub fn new(expected: SocketAddr, signalling: std::net::IpAddr) -> SourceFilter {
        let behind_nat = expected.ip() != signalling && not_routable(expected.ip());
        SourceFilter { expected, latch_from: behind_nat.then_some(signalling), latched: None, dropped: 0 }
    }

    pub fn accept(&mut self, from: SocketAddr) -> bool {
        if from == self.expected || Some(from) == self.latched {
            return true;
        }
        if self.latched.is_none() && Some(from.ip()) == self.latch_from {
            self.latched = Some(from);
            return true;
        }
        self.dropped += 1;
        false
    }

    /// Where our RTP goes: back to where the caller's comes from (symmetric RTP), else the SDP's.
    pub fn reply_to(&self) -> SocketAddr {
        self.latched.unwrap_or(self.expected)
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// An address a caller's packets cannot come from across the internet as written: private
/// (RFC 1918, RFC 6598 shared, IPv6 unique-local), link-local or unspecified.
fn not_routable(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private() || v4.is_link_local() || v4.is_unspecified() || (a == 100 && (64..128).contains(&b))
        }
        std::net::IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_unspecified() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

/// What one inbound packet was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    Audio(Vec<i16>),
    /// A DTMF digit, reported once (on its first end packet).
    Digit(char),
    Other,
}

/// Reads inbound RTP: audio decoded, RFC 4733 events reported once per event.
pub struct Receiver {
    codec: Codec,
    event_pt: Option<u8>,
    last_event_ts: Option<u32>,
    /// Audio is decoded only while someone listens (a voicemail is being recorded).
    audio: bool,
}

impl Receiver {
    pub fn new(codec: Codec, event_pt: Option<u8>) -> Receiver {
        Receiver { codec, event_pt, last_event_ts: None, audio: true }
    }

    /// Whether audio packets are decoded (`Inbound::Audio`) or passed over (`Inbound::Other`).
    pub fn set_audio(&mut self, on: bool) {
        self.audio = on;
    }

    pub fn read(&mut self, packet: &[u8]) -> Inbound {
        let Ok(rtp) = RtpReader::new(packet) else { return Inbound::Other };
        let pt = rtp.payload_type();
        if Some(pt) == self.event_pt {
            let p = rtp.payload();
            if p.len() < 4 || p[1] & 0x80 == 0 {
                return Inbound::Other;
            }
            // End packets are sent three times with one timestamp: report the first only.
            if self.last_event_ts == Some(rtp.timestamp()) {
                return Inbound::Other;
            }
            self.last_event_ts = Some(rtp.timestamp());
            return match p[0] {
                0..=9 => Inbound::Digit((b'0' + p[0]) as char),
                10 => Inbound::Digit('*'),
                11 => Inbound::Digit('#'),
                _ => Inbound::Other,
            };
        }
        if pt == self.codec.payload_type() && self.audio {
            return Inbound::Audio(self.codec.decode(rtp.payload()));
        }
        Inbound::Other
    }
}

/// An RFC 4733 event packet (for tests and tools that play the caller).
pub fn dtmf_packet(pt: u8, ssrc: u32, seq: u16, timestamp: u32, digit: u8, end: bool, duration: u16) -> Vec<u8> {
    let event = match digit {
        b'0'..=b'9' => digit - b'0',
        b'*' => 10,
        _ => 11,
    };
    let d = duration.to_be_bytes();
    let payload = [event, if end { 0x80 | 10 } else { 10 }, d[0], d[1]];
    RtpPacketBuilder::new()
        .payload_type(pt)
        .ssrc(ssrc)
        .sequence(Seq::from(seq))
        .timestamp(timestamp)
        .payload(&payload)
        .build()
        .expect("valid packet")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_from_strangers_is_dropped_and_nat_sources_latch() {
        // Not behind NAT: the SDP's address and port, nothing else, not even another port.
        let sdp: SocketAddr = "192.0.2.5:40000".parse().unwrap();
        let mut f = SourceFilter::new(sdp, "192.0.2.5".parse().unwrap());
        assert!(!f.accept("192.0.2.5:40002".parse().unwrap()), "another port first");
        assert!(f.accept(sdp));
        assert!(!f.accept("203.0.113.9:40000".parse().unwrap()), "another address");
        assert_eq!((f.reply_to(), f.dropped()), (sdp, 2));

        // A phone on 10.0.0.7 behind the NAT at 198.51.100.1: the first packet from there latches.
        let private: SocketAddr = "10.0.0.7:40000".parse().unwrap();
        let mut f = SourceFilter::new(private, "198.51.100.1".parse().unwrap());
        assert!(!f.accept("203.0.113.9:40000".parse().unwrap()), "a stranger cannot latch");
        assert!(f.accept("198.51.100.1:61000".parse().unwrap()));
        assert!(!f.accept("198.51.100.1:61002".parse().unwrap()), "one latch only");
        assert_eq!(f.reply_to(), "198.51.100.1:61000".parse().unwrap());
        assert_eq!(f.dropped(), 2);
    }

    #[test]
    fn each_digit_is_reported_once_despite_end_retransmissions() {
        let mut r = Receiver::new(Codec::Pcmu, Some(101));
        let mut digits = Vec::new();
        let mut seq = 1;
        for (ts, digit) in [(1000u32, b'2'), (5000, b'2'), (9000, b'#')] {
            for (end, dur) in [(false, 160), (false, 320), (true, 480), (true, 480), (true, 480)] {
                if let Inbound::Digit(d) = r.read(&dtmf_packet(101, 7, seq, ts, digit, end, dur)) {
                    digits.push(d);
                }
                seq += 1;
            }
        }
        assert_eq!(digits, ['2', '2', '#']);
    }

    #[test]
    fn audio_is_decoded_only_while_wanted() {
        let mut r = Receiver::new(Codec::Pcmu, Some(101));
        let packet = RtpPacketBuilder::new().payload_type(0).ssrc(1).payload(&[0xff; 160]).build().unwrap();
        assert_eq!(r.read(&packet), Inbound::Audio(vec![0; 160]));
        r.set_audio(false);
        assert_eq!(r.read(&packet), Inbound::Other);
    }
}
