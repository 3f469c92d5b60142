//! Prompt audio: any PCM or float WAV, mono or stereo, at any rate, converted to 8 kHz mono
//! 16-bit for G.711.

use std::path::Path;

pub const RATE: u32 = 8000;

#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("{path}: {message}")]
    Wav { path: String, message: String },
}

/// 8 kHz mono samples of a WAV file.
pub fn load_wav(path: &Path) -> Result<Vec<i16>, AudioError> {
    let err = |message: String| AudioError::Wav { path: path.display().to_string(), message };
    decode(hound::WavReader::open(path).map_err(|e| err(e.to_string()))?, &path.display().to_string())
}

/// 8 kHz mono samples of a WAV held in memory (the built-in announcements); `name` for errors.
pub fn load_wav_bytes(name: &str, bytes: &[u8]) -> Result<Vec<i16>, AudioError> {
    let err = |message: String| AudioError::Wav { path: name.to_owned(), message };
    decode(hound::WavReader::new(std::io::Cursor::new(bytes)).map_err(|e| err(e.to_string()))?, name)
}

fn decode<R: std::io::Read>(mut reader: hound::WavReader<R>, name: &str) -> Result<Vec<i16>, AudioError> {
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
    Ok(resample(&mono, spec.sample_rate, RATE).into_iter().map(|s| (s.clamp(-1.0, 1.0) * 32767.0) as i16).collect())
}

/// Linear interpolation, after a simple low-pass when going down (speech prompts need no more).
fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
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
mod tests {
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
}
