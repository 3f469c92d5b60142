//! Audio to upload in tests, and what a caller hears of it.

#![allow(dead_code)]

use base64::Engine;

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Whether `heard` holds `part` sample for sample somewhere.
pub fn contains(heard: &[i16], part: &[i16]) -> bool {
    !part.is_empty() && heard.windows(part.len()).any(|w| w == part)
}

/// How a caller hears `samples` through PCMU.
pub fn as_heard(samples: &[i16]) -> Vec<i16> {
    use madoguchi::media::g711::Codec;
    Codec::Pcmu.decode(&Codec::Pcmu.encode(samples))
}

/// A sine tone as a 16 kHz mono 16-bit WAV file's bytes.
pub fn tone_wav(freq: f32, seconds: f32, amplitude: f32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = std::io::Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
    for n in 0..(16000.0 * seconds) as usize {
        w.write_sample(((n as f32 * freq * std::f32::consts::TAU / 16000.0).sin() * amplitude) as i16).unwrap();
    }
    w.finalize().unwrap();
    out.into_inner()
}

/// The frequency of a tone at 8 kHz, from how often it crosses zero.
pub fn tone_frequency(samples: &[i16]) -> f32 {
    let crossings = samples.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    crossings as f32 * 8000.0 / 2.0 / samples.len() as f32
}
