//! Media, knowing nothing of SIP: G.711, prompt audio, RTP sending paced from a monotonic
//! clock, RFC 4733 DTMF, recording.

pub mod audio;
pub mod g711;
pub(crate) mod pacer;
pub(crate) mod ports;
pub mod rtp;
pub mod upload;
