//! Prompt audio: any PCM, float, G.711 μ-law or A-law WAV, mono or stereo, at any rate,
//! converted to 8 kHz mono 16-bit for G.711.

use std::path::Path;

pub const RATE: u32 = 8000;

#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("{path}: {message}")]
    Wav { path: String, message: String },
}

/// 8 kHz mono samples of a WAV file.
pub fn load_wav(path: &Path) -> Result<Vec<i16>, AudioError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| AudioError::Wav { path: name.clone(), message: e.to_string() })?;
    load_wav_bytes(&name, &bytes)
}

/// 8 kHz mono samples of a WAV held in memory (the built-in announcements); `name` for errors.
pub fn load_wav_bytes(name: &str, bytes: &[u8]) -> Result<Vec<i16>, AudioError> {
    let (mono, rate) = decode_wav_mono(name, bytes)?;
    Ok(to_samples(&resample(&mono, rate, RATE)))
}

/// A WAV's channels mixed to one, full scale ±1.0, at the file's own rate.
pub(crate) fn decode_wav_mono(name: &str, bytes: &[u8]) -> Result<(Vec<f32>, u32), AudioError> {
    let err = |message: String| AudioError::Wav { path: name.to_owned(), message };
    if let Some(g711) = g711_wav(bytes).map_err(|m| err(m.to_owned()))? {
        let channels = usize::from(g711.channels.max(1));
        let mono: Vec<f32> = g711
            .data
            .chunks(channels)
            .map(|c| c.iter().map(|&b| f32::from(g711.codec.decode_one(b)) / 32768.0).sum::<f32>() / channels as f32)
            .collect();
        return Ok((mono, g711.rate));
    }
    decode(hound::WavReader::new(std::io::Cursor::new(bytes)).map_err(|e| err(e.to_string()))?, name)
}

/// The parts of a G.711 WAV (format 6 A-law, 7 μ-law, also inside WAVE_FORMAT_EXTENSIBLE),
/// which hound does not read.
struct G711Wav<'a> {
    codec: crate::media::g711::Codec,
    channels: u16,
    rate: u32,
    data: &'a [u8],
}

/// `Ok(None)` for a WAV that is not G.711 (or not a WAV: hound says what is wrong with it).
fn g711_wav(bytes: &[u8]) -> Result<Option<G711Wav<'_>>, &'static str> {
    use crate::media::g711::Codec;
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Ok(None);
    }
    let u16_at = |b: &[u8], i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let mut format = None;
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32_at(bytes, at + 4) as usize;
        let body = at + 8;
        let end = body.saturating_add(size);
        if id == b"fmt " {
            if size < 16 || end > bytes.len() {
                return Err("the fmt chunk is cut short");
            }
            let fmt = &bytes[body..end];
            let mut tag = u16_at(fmt, 0);
            if tag == 0xFFFE && fmt.len() >= 26 {
                tag = u16_at(fmt, 24);
            }
            let codec = match tag {
                6 => Codec::Pcma,
                7 => Codec::Pcmu,
                _ => return Ok(None),
            };
            if u16_at(fmt, 14) != 8 {
                return Err("G.711 WAV must have 8 bits per sample");
            }
            format = Some((codec, u16_at(fmt, 2), u32_at(fmt, 4)));
        } else if id == b"data" {
            let Some((codec, channels, rate)) = format else { return Ok(None) };
            if channels == 0 || rate == 0 {
                return Err("the fmt chunk has no channels or no sample rate");
            }
            if end > bytes.len() {
                return Err("the file ends inside its audio data (cut short)");
            }
            return Ok(Some(G711Wav { codec, channels, rate, data: &bytes[body..end] }));
        }
        at = end.saturating_add(size % 2);
    }
    match format {
        Some(_) => Err("no audio data"),
        None => Ok(None),
    }
}

fn to_samples(mono: &[f32]) -> Vec<i16> {
    mono.iter().map(|s| (s.clamp(-1.0, 1.0) * 32767.0) as i16).collect()
}

fn decode<R: std::io::Read>(mut reader: hound::WavReader<R>, name: &str) -> Result<(Vec<f32>, u32), AudioError> {
    let err = |message: String| AudioError::Wav { path: name.to_owned(), message };
    let spec = reader.spec();
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => {
            reader.samples::<f32>().collect::<Result<_, _>>().map_err(|e| err(e.to_string()))?
        }
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1i64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(|e| err(e.to_string()))?
        }
    };
    let channels = spec.channels.max(1) as usize;
    let mono: Vec<f32> = samples.chunks(channels).map(|c| c.iter().sum::<f32>() / channels as f32).collect();
    Ok((mono, spec.sample_rate))
}

/// Linear interpolation, after a simple low-pass when going down (speech prompts need no more).
pub(crate) fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || input.is_empty() {
        return input.to_vec();
    }
    let smoothed: Vec<f32> = if from > to {
        let width = (from as f32 / to as f32).round().max(1.0) as usize;
        (0..input.len())
            .map(|i| {
                let lo = i.saturating_sub(width / 2);
                let hi = (i + width / 2 + 1).min(input.len());
                input[lo..hi].iter().sum::<f32>() / (hi - lo) as f32
            })
            .collect()
    } else {
        input.to_vec()
    };
    let ratio = from as f64 / to as f64;
    let out_len = (input.len() as f64 / ratio) as usize;
    (0..out_len)
        .map(|i| {
            let pos = i as f64 * ratio;
            let j = pos as usize;
            let frac = (pos - j as f64) as f32;
            let a = smoothed[j.min(smoothed.len() - 1)];
            let b = smoothed[(j + 1).min(smoothed.len() - 1)];
            a + (b - a) * frac
        })
        .collect()
}

/// Writes 8 kHz mono 16-bit samples as a WAV file (voicemail).
pub fn write_wav(path: &Path, samples: &[i16]) -> Result<(), AudioError> {
    let err = |e: hound::Error| AudioError::Wav { path: path.display().to_string(), message: e.to_string() };
    let spec =
        hound::WavSpec { channels: 1, sample_rate: RATE, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(path, spec).map_err(err)?;
    for &s in samples {
        w.write_sample(s).map_err(err)?;
    }
    w.finalize().map_err(err)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn any_wav_becomes_8khz_mono() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stereo.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 22050,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for i in 0..22050 {
            let v = ((i as f32 * 440.0 * std::f32::consts::TAU / 22050.0).sin() * 10000.0) as i16;
            w.write_sample(v).unwrap();
            w.write_sample(v).unwrap();
        }
        w.finalize().unwrap();
        let samples = load_wav(&path).unwrap();
        assert!((7990..=8000).contains(&samples.len()), "{}", samples.len());
        let peak = samples.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!((8000..=10100).contains(&peak), "{peak}");

        let out = dir.path().join("out.wav");
        write_wav(&out, &samples).unwrap();
        let back = load_wav(&out).unwrap();
        assert_eq!(back.len(), samples.len());
        assert!(back.iter().zip(&samples).all(|(a, b)| (a - b).abs() <= 1), "8 kHz mono reads back unchanged");
    }

    /// Level in dB of a `hz` tone at `rate`, after resampling to 8 kHz (0 dB: unchanged).
    fn level_through_resample(rate: u32, hz: f32) -> f32 {
        let tone: Vec<f32> =
            (0..rate as usize * 2).map(|i| (i as f32 * hz * std::f32::consts::TAU / rate as f32).sin()).collect();
        let out = resample(&tone, rate, RATE);
        let middle = &out[1000..out.len() - 1000];
        let rms = (middle.iter().map(|s| s * s).sum::<f32>() / middle.len() as f32).sqrt();
        20.0 * (rms * std::f32::consts::SQRT_2).log10()
    }

    #[test]
    fn resampling_from_cd_and_video_rates_keeps_speech_and_damps_what_would_alias() {
        for rate in [44100, 48000] {
            let levels: Vec<(f32, f32)> =
                [300.0, 1000.0, 2000.0, 3000.0, 3400.0, 6000.0, 7000.0, 9000.0, 12000.0, 15000.0]
                    .map(|hz| (hz, level_through_resample(rate, hz)))
                    .to_vec();
            eprintln!("{rate} Hz → 8 kHz: {levels:?}");
            for (hz, db) in levels {
                let (lo, hi) = match hz {
                    f if f <= 1000.0 => (-0.5, 0.1),
                    f if f <= 3400.0 => (-6.0, 0.1),
                    _ => (-200.0, -10.0),
                };
                assert!((lo..=hi).contains(&db), "{rate} Hz: {hz} Hz comes out at {db:.1} dB");
            }
        }
    }

    /// A G.711 WAV as sox or Asterisk writes it: `fmt ` of 18 bytes (cbSize 0), a `fact` chunk.
    pub(crate) fn g711_wav_file(tag: u16, channels: u16, rate: u32, data: &[u8]) -> Vec<u8> {
        let mut w = Vec::new();
        w.extend_from_slice(b"RIFF");
        w.extend_from_slice(&(4 + 26 + 12 + 8 + data.len() as u32).to_le_bytes());
        w.extend_from_slice(b"WAVEfmt ");
        w.extend_from_slice(&18u32.to_le_bytes());
        w.extend_from_slice(&tag.to_le_bytes());
        w.extend_from_slice(&channels.to_le_bytes());
        w.extend_from_slice(&rate.to_le_bytes());
        w.extend_from_slice(&(rate * u32::from(channels)).to_le_bytes());
        w.extend_from_slice(&channels.to_le_bytes());
        w.extend_from_slice(&8u16.to_le_bytes());
        w.extend_from_slice(&0u16.to_le_bytes());
        w.extend_from_slice(b"fact");
        w.extend_from_slice(&4u32.to_le_bytes());
        w.extend_from_slice(&(data.len() as u32 / u32::from(channels)).to_le_bytes());
        w.extend_from_slice(b"data");
        w.extend_from_slice(&(data.len() as u32).to_le_bytes());
        w.extend_from_slice(data);
        w
    }

    #[test]
    fn telephony_wavs_in_mu_law_and_a_law_are_announcements_too() {
        use crate::media::g711::Codec;
        let tone: Vec<i16> =
            (0..8000).map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 8000.0).sin() * 8000.0) as i16).collect();
        for (tag, codec) in [(7, Codec::Pcmu), (6, Codec::Pcma)] {
            let file = g711_wav_file(tag, 1, 8000, &codec.encode(&tone));
            let samples = load_wav_bytes("t.wav", &file).unwrap();
            assert_eq!(samples.len(), tone.len(), "format {tag}");
            let worst = samples.iter().zip(&tone).map(|(a, b)| (a - b).unsigned_abs()).max().unwrap();
            assert!(worst < 300, "format {tag}: G.711's own rounding only, worst {worst}");
        }
        // Stereo μ-law at 16 kHz (both channels the same tone) becomes one second at 8 kHz.
        let wide: Vec<i16> = (0..16000).flat_map(|i| [tone[i / 2], tone[i / 2]]).collect();
        let samples = load_wav_bytes("s.wav", &g711_wav_file(7, 2, 16000, &Codec::Pcmu.encode(&wide))).unwrap();
        assert!((7990..=8000).contains(&samples.len()), "{}", samples.len());
    }

    #[test]
    fn broken_wavs_say_what_is_wrong() {
        let ulaw = g711_wav_file(7, 1, 8000, &[0xFF; 800]);
        let cut = &ulaw[..ulaw.len() - 100];
        let err = load_wav_bytes("cut.wav", cut).unwrap_err().to_string();
        assert!(err.starts_with("cut.wav: ") && err.contains("cut short"), "{err}");
        let err = load_wav_bytes("text.wav", b"this is not audio").unwrap_err().to_string();
        assert!(err.starts_with("text.wav: "), "{err}");
        let mut pcm = Vec::new();
        hound::WavWriter::new(
            std::io::Cursor::new(&mut pcm),
            hound::WavSpec {
                channels: 1,
                sample_rate: 8000,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            },
        )
        .and_then(|mut w| {
            for _ in 0..800 {
                w.write_sample(0i16)?;
            }
            w.finalize()
        })
        .unwrap();
        assert!(load_wav_bytes("short.wav", &pcm[..pcm.len() - 501]).is_err(), "a cut-short PCM WAV is refused");
    }
}
