//! An uploaded or synthesised announcement made ready for the line: decoded to 8 kHz mono,
//! silence trimmed from both ends, brought to a telephone level, and refused with a reason when
//! it is no use (too large, not audio, silent, clipped, too long).

use crate::media::audio::{self, RATE};
use std::time::Duration;

/// What an announcement may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// The file as uploaded (or as the synthesiser wrote it), in bytes.
    pub max_bytes: usize,
    /// The announcement after trimming its silence.
    pub max_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AudioProblem {
    #[error(
        "ファイルが大きすぎます（{bytes} バイト、上限 {max} バイト） / file too large: {bytes} bytes, at most {max}"
    )]
    TooLarge { bytes: usize, max: usize },
    #[error("音声ファイルではありません / not an audio file: {0}")]
    NotAudio(String),
    #[error("音が入っていません（無音） / silent: nothing louder than the noise floor")]
    Silent,
    #[error(
        "音が割れています（{percent:.1}% の標本が最大音量） / clipped: {percent:.1}% of the samples are at full scale"
    )]
    Clipped { percent: f32 },
    #[error(
        "長すぎます（{seconds} 秒、上限 {max} 秒） / too long: {seconds} s after trimming silence, at most {max} s"
    )]
    TooLong { seconds: u32, max: u32 },
    #[error("音声が空です / empty: the file holds no audio")]
    Empty,
    #[error("音声合成に失敗しました / speech synthesis failed: {0}")]
    Tts(String),
}

/// Peak level of a prepared announcement: −3 dBFS.
const TARGET_PEAK: f32 = 0.707_945_8;
/// A 20 ms frame whose RMS is below −40 dBFS is silence.
const SILENCE_RMS: f32 = 0.01;
const FRAME: usize = RATE as usize / 50;
/// Silence kept before the first and after the last sound.
const MARGIN: usize = RATE as usize / 10;
/// More than this share of the input's samples flat at its (near full scale) peak is clipping.
const CLIPPED_SHARE: f32 = 0.01;
/// "Flat": at least this many samples in a row at the peak (a loud sine touches it in one or two).
const CLIPPED_RUN: usize = 3;
/// Sample rates accepted; outside them a file is refused rather than resampled to an absurd size.
const RATES: std::ops::RangeInclusive<u32> = 4000..=384_000;
/// How long the synthesiser may take, and how much of its error output is quoted.
const TTS_TIMEOUT: Duration = Duration::from_secs(20);
const TTS_STDERR_QUOTED: usize = 300;

/// Any WAV (PCM 8/16/24/32-bit, float, G.711; mono or stereo; any rate) or MP3, as 8 kHz mono
/// samples ready to play: trimmed, normalised to a −3 dBFS peak, and checked.
pub fn prepare(bytes: &[u8], limits: &UploadLimits) -> Result<Vec<i16>, AudioProblem> {
    if bytes.len() > limits.max_bytes {
        return Err(AudioProblem::TooLarge { bytes: bytes.len(), max: limits.max_bytes });
    }
    let (input, rate) = decode(bytes, limits)?;
    if input.is_empty() {
        return Err(AudioProblem::Empty);
    }
    if !RATES.contains(&rate) {
        return Err(AudioProblem::NotAudio(format!("sample rate {rate} Hz is not supported")));
    }
    if input.iter().any(|s| !s.is_finite()) {
        return Err(AudioProblem::NotAudio("the samples are not numbers (NaN or infinite)".into()));
    }
    if let Some(percent) = clipped_percent(&input) {
        return Err(AudioProblem::Clipped { percent });
    }
    let narrow = audio::resample(&input, rate, RATE);
    drop(input);
    let Some((start, end)) = sound_span(&narrow) else { return Err(AudioProblem::Silent) };
    let trimmed = &narrow[start.saturating_sub(MARGIN)..(end + MARGIN).min(narrow.len())];
    let max_samples = limits.max_seconds as usize * RATE as usize;
    if trimmed.len() > max_samples {
        let seconds = trimmed.len().div_ceil(RATE as usize) as u32;
        return Err(AudioProblem::TooLong { seconds, max: limits.max_seconds });
    }
    let peak = trimmed.iter().fold(0f32, |m, s| m.max(s.abs()));
    let gain = TARGET_PEAK / peak;
    Ok(trimmed.iter().map(|s| (s * gain * 32767.0).round().clamp(-32767.0, 32767.0) as i16).collect())
}

/// Mono samples at the input's own rate, full scale ±1.0.
fn decode(bytes: &[u8], limits: &UploadLimits) -> Result<(Vec<f32>, u32), AudioProblem> {
    if bytes.is_empty() {
        return Err(AudioProblem::Empty);
    }
    let is_wav = bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WAVE";
    if is_wav {
        return audio::decode_wav_mono("upload", bytes).map_err(|e| match e {
            audio::AudioError::Wav { message, .. } => AudioProblem::NotAudio(message),
        });
    }
    if looks_like_mp3(bytes) {
        return decode_mp3(bytes, limits);
    }
    Err(AudioProblem::NotAudio("neither a WAV nor an MP3 file".into()))
}

/// An ID3v2 tag, or an MPEG audio Layer III frame header, at the start.
fn looks_like_mp3(bytes: &[u8]) -> bool {
    bytes.starts_with(b"ID3") || (bytes.len() >= 4 && bytes[0] == 0xFF && bytes[1] & 0xE6 == 0xE2)
}

/// The decoded length beyond which an MP3 (a few kilobytes per second) is refused unfinished:
/// twice the longest announcement and half a minute of silence.
fn mp3_seconds_at_most(limits: &UploadLimits) -> u32 {
    limits.max_seconds.saturating_mul(2).saturating_add(30)
}

fn decode_mp3(bytes: &[u8], limits: &UploadLimits) -> Result<(Vec<f32>, u32), AudioProblem> {
    use symphonia::core::audio::SampleBuffer;
    use symphonia::core::errors::Error;
    let not_audio = |e: Error| AudioProblem::NotAudio(format!("MP3: {e}"));
    let source =
        symphonia::core::io::MediaSourceStream::new(Box::new(std::io::Cursor::new(bytes.to_vec())), Default::default());
    let mut hint = symphonia::core::probe::Hint::new();
    hint.with_extension("mp3");
    let mut reader = symphonia::default::get_probe()
        .format(&hint, source, &Default::default(), &Default::default())
        .map_err(not_audio)?
        .format;
    let track = reader.default_track().ok_or_else(|| AudioProblem::NotAudio("MP3: no audio track".into()))?;
    let (track_id, rate) = (track.id, track.codec_params.sample_rate.unwrap_or(0));
    let mut decoder =
        symphonia::default::get_codecs().make(&track.codec_params, &Default::default()).map_err(not_audio)?;
    let most = mp3_seconds_at_most(limits) as usize * rate as usize;
    let (mut mono, mut damaged) = (Vec::new(), 0usize);
    loop {
        let packet = match reader.next_packet() {
            Ok(packet) => packet,
            Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(not_audio(e)),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(decoded) => decoded,
            Err(Error::DecodeError(_)) => {
                damaged += 1;
                continue;
            }
            Err(e) => return Err(not_audio(e)),
        };
        let spec = *decoded.spec();
        let channels = spec.channels.count().max(1);
        let mut buffer = SampleBuffer::<f32>::new(decoded.capacity() as u64, spec);
        buffer.copy_interleaved_ref(decoded);
        mono.extend(buffer.samples().chunks(channels).map(|c| c.iter().sum::<f32>() / channels as f32));
        if mono.len() > most {
            let seconds = mono.len().div_ceil(rate as usize) as u32;
            return Err(AudioProblem::TooLong { seconds, max: limits.max_seconds });
        }
    }
    if mono.is_empty() && damaged > 0 {
        return Err(AudioProblem::NotAudio(format!("MP3: none of its {damaged} frames could be decoded")));
    }
    Ok((mono, rate))
}

/// The share of samples (in percent) in flat runs at the input's peak, when that peak is at or
/// near full scale and the share is over [`CLIPPED_SHARE`]. Relative to the peak, so μ-law's top
/// step (0.98) and a float file's peaks over 1.0 are judged alike.
fn clipped_percent(input: &[f32]) -> Option<f32> {
    let peak = input.iter().fold(0f32, |m, s| m.max(s.abs()));
    if peak < 0.97 {
        return None;
    }
    let (mut flat, mut run) = (0, 0);
    for s in input {
        if s.abs() >= peak * 0.9999 {
            run += 1;
        } else {
            if run >= CLIPPED_RUN {
                flat += run;
            }
            run = 0;
        }
    }
    if run >= CLIPPED_RUN {
        flat += run;
    }
    let share = flat as f32 / input.len() as f32;
    (share > CLIPPED_SHARE).then_some(share * 100.0)
}

/// The first and one past the last sample of the frames louder than silence.
fn sound_span(samples: &[f32]) -> Option<(usize, usize)> {
    let loud = |frame: &[f32]| (frame.iter().map(|s| s * s).sum::<f32>() / frame.len() as f32).sqrt() > SILENCE_RMS;
    let frames: Vec<&[f32]> = samples.chunks(FRAME).collect();
    let first = frames.iter().position(|f| loud(f))?;
    let last = frames.iter().rposition(|f| loud(f))?;
    Some((first * FRAME, (last * FRAME + frames[last].len()).min(samples.len())))
}

/// 8 kHz mono 16-bit PCM WAV bytes of `samples`: what is stored, and a preview a browser plays.
pub fn wav_bytes(samples: &[i16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + samples.len() as u32 * 2).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&RATE.to_le_bytes());
    out.extend_from_slice(&(RATE * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(samples.len() as u32 * 2).to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// Japanese `text` spoken by the synthesiser `command` (program and arguments, run without a
/// shell; the text goes to its standard input, the WAV it writes to standard output), then
/// through [`prepare`].
pub async fn speak(text: &str, command: &[String], limits: &UploadLimits) -> Result<Vec<i16>, AudioProblem> {
    speak_within(text, command, limits, TTS_TIMEOUT).await
}

/// [`speak`], killing the synthesiser after `timeout`.
pub(crate) async fn speak_within(
    text: &str,
    command: &[String],
    limits: &UploadLimits,
    timeout: Duration,
) -> Result<Vec<i16>, AudioProblem> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some((program, args)) = command.split_first() else {
        return Err(AudioProblem::Tts("no synthesiser command is configured ([prompts] tts_command)".into()));
    };
    if text.trim().is_empty() {
        return Err(AudioProblem::Empty);
    }
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| AudioProblem::Tts(format!("{program}: cannot start: {e}")))?;
    let mut stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let text = text.as_bytes().to_vec();
    let limit = limits.max_bytes as u64 + 1;
    let run = async {
        let write = async move {
            // A synthesiser that exits without reading all of it is judged by its exit status.
            let _ = stdin.write_all(&text).await;
            let _ = stdin.shutdown().await;
        };
        let mut wav = Vec::new();
        let mut stdout = stdout.take(limit);
        let read_out = stdout.read_to_end(&mut wav);
        // Read to its end (a synthesiser must not block on a full pipe), keeping the start.
        let read_err = async move {
            let (mut kept, mut chunk) = (Vec::new(), [0u8; 1024]);
            while let Ok(n @ 1..) = stderr.read(&mut chunk).await {
                kept.extend_from_slice(&chunk[..n.min((TTS_STDERR_QUOTED * 4).saturating_sub(kept.len()))]);
            }
            kept
        };
        let ((), out, errors) = tokio::join!(write, read_out, read_err);
        out.map_err(|e| AudioProblem::Tts(format!("{program}: reading its output: {e}")))?;
        if wav.len() as u64 >= limit {
            return Err(AudioProblem::Tts(format!("{program}: wrote more than {} bytes", limits.max_bytes)));
        }
        let status = child.wait().await.map_err(|e| AudioProblem::Tts(format!("{program}: waiting for it: {e}")))?;
        if !status.success() {
            let said: String = String::from_utf8_lossy(&errors).trim().chars().take(TTS_STDERR_QUOTED).collect();
            return Err(AudioProblem::Tts(format!(
                "{program}: {status}{}{said}",
                if said.is_empty() { "" } else { ": " }
            )));
        }
        Ok::<_, AudioProblem>(wav)
    };
    let wav = match tokio::time::timeout(timeout, run).await {
        Ok(result) => result?,
        Err(_) => {
            return Err(AudioProblem::Tts(format!("{program}: no answer within {} s, stopped", timeout.as_secs_f32())));
        }
    };
    prepare(&streamed_wav_sizes_fixed(wav), limits)
}

/// A WAV written to a pipe (espeak-ng's `--stdout`) cannot go back to fill in its sizes, so it
/// claims more than it holds: the RIFF and data sizes are set to what is there.
fn streamed_wav_sizes_fixed(mut wav: Vec<u8>) -> Vec<u8> {
    if wav.len() < 12 || &wav[..4] != b"RIFF" || &wav[8..12] != b"WAVE" {
        return wav;
    }
    let riff = (wav.len() - 8) as u32;
    wav[4..8].copy_from_slice(&riff.to_le_bytes());
    let mut at = 12;
    while at + 8 <= wav.len() {
        let size = u32::from_le_bytes([wav[at + 4], wav[at + 5], wav[at + 6], wav[at + 7]]) as usize;
        if &wav[at..at + 4] == b"data" {
            let held = (wav.len() - at - 8) as u32;
            if size as u64 > u64::from(held) {
                wav[at + 4..at + 8].copy_from_slice(&(held & !1).to_le_bytes());
            }
            break;
        }
        at = at + 8 + size + size % 2;
    }
    wav
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::TAU;

    const LIMITS: UploadLimits = UploadLimits { max_bytes: 10 * 1024 * 1024, max_seconds: 120 };
    const TARGET: i16 = 23197; // −3 dBFS of 32767

    fn tone(rate: u32, hz: f32, seconds: f32, amplitude: f32) -> Vec<f32> {
        (0..(rate as f32 * seconds) as usize).map(|i| (i as f32 * hz * TAU / rate as f32).sin() * amplitude).collect()
    }

    fn silence(rate: u32, seconds: f32) -> Vec<f32> {
        vec![0.0; (rate as f32 * seconds) as usize]
    }

    /// A WAV of `mono` (copied to every channel) in the given format.
    fn wav(mono: &[f32], rate: u32, channels: u16, bits: u16, float: bool) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: if float { hound::SampleFormat::Float } else { hound::SampleFormat::Int },
        };
        let mut out = Vec::new();
        let mut w = hound::WavWriter::new(std::io::Cursor::new(&mut out), spec).unwrap();
        let full = ((1i64 << (bits - 1)) - 1) as f32;
        for &s in mono {
            for _ in 0..channels {
                if float {
                    w.write_sample(s).unwrap();
                } else {
                    w.write_sample((s * full).round() as i32).unwrap();
                }
            }
        }
        w.finalize().unwrap();
        out
    }

    fn peak(samples: &[i16]) -> i16 {
        samples.iter().map(|s| s.saturating_abs()).max().unwrap_or(0)
    }

    /// 0.5 s of silence, `seconds` of a 1 kHz tone at −10 dBFS, 0.5 s of silence.
    fn padded_tone(rate: u32, seconds: f32) -> Vec<f32> {
        [silence(rate, 0.5), tone(rate, 1000.0, seconds, 0.316), silence(rate, 0.5)].concat()
    }

    #[test]
    fn any_wav_becomes_trimmed_8khz_mono_at_the_telephone_level() {
        let mu_law = {
            use crate::media::g711::Codec;
            let pcm: Vec<i16> = padded_tone(8000, 1.0).iter().map(|s| (s * 32767.0) as i16).collect();
            crate::media::audio::tests::g711_wav_file(7, 1, 8000, &Codec::Pcmu.encode(&pcm))
        };
        let cases: [(&str, Vec<u8>); 5] = [
            ("44.1 kHz stereo 16-bit", wav(&padded_tone(44100, 1.0), 44100, 2, 16, false)),
            ("48 kHz mono 24-bit", wav(&padded_tone(48000, 1.0), 48000, 1, 24, false)),
            ("22.05 kHz stereo float", wav(&padded_tone(22050, 1.0), 22050, 2, 32, true)),
            ("16 kHz mono 8-bit", wav(&padded_tone(16000, 1.0), 16000, 1, 8, false)),
            ("8 kHz μ-law", mu_law),
        ];
        for (name, file) in cases {
            let samples = prepare(&file, &LIMITS).unwrap_or_else(|e| panic!("{name}: {e}"));
            // One second of tone, 100 ms of margin each side, give or take a 20 ms frame.
            assert!((9600 - 200..=9600 + 200).contains(&samples.len()), "{name}: {} samples", samples.len());
            assert!((TARGET - 2..=TARGET).contains(&peak(&samples)), "{name}: peak {}", peak(&samples));
            let head = peak(&samples[..600]);
            assert!(head < 400, "{name}: the margin before the tone is quiet ({head})");
            let middle = &samples[samples.len() / 2 - 400..samples.len() / 2 + 400];
            let rms = (middle.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / 800.0).sqrt();
            assert!((rms - f64::from(TARGET) / 2f64.sqrt()).abs() < 400.0, "{name}: the tone is steady (rms {rms})");
        }
    }

    #[test]
    fn a_prepared_announcement_is_stored_as_a_wav_that_reads_back_unchanged() {
        let samples = prepare(&wav(&padded_tone(44100, 0.5), 44100, 2, 16, false), &LIMITS).unwrap();
        let file = wav_bytes(&samples);
        let reader = hound::WavReader::new(std::io::Cursor::new(&file)).unwrap();
        assert_eq!(
            reader.spec(),
            hound::WavSpec {
                channels: 1,
                sample_rate: 8000,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int
            }
        );
        let stored: Vec<i16> = reader.into_samples().collect::<Result<_, _>>().unwrap();
        assert_eq!(stored, samples);
        let again = prepare(&file, &LIMITS).unwrap();
        assert_eq!(again.len(), samples.len(), "preparing twice trims nothing more");
        let worst = again.iter().zip(&samples).map(|(a, b)| (a - b).abs()).max().unwrap();
        assert!(worst <= 2, "preparing twice changes no more than rounding ({worst})");
    }

    #[test]
    fn unusable_audio_is_refused_with_the_reason() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..4000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        let mut not_a_wav_inside = b"RIFF\x00\x10\x00\x00WAVE".to_vec();
        not_a_wav_inside.extend_from_slice(&noise);
        let square: Vec<f32> = (0..8000).map(|i| if i / 8 % 2 == 0 { 1.0 } else { -1.0 }).collect();
        let short = UploadLimits { max_bytes: 10_000, max_seconds: 5 };
        let cases: [(&str, Vec<u8>, UploadLimits, AudioProblem); 8] = [
            ("random bytes", noise.clone(), LIMITS, AudioProblem::NotAudio("neither a WAV nor an MP3 file".into())),
            ("no bytes", Vec::new(), LIMITS, AudioProblem::Empty),
            ("a WAV with no samples", wav(&[], 8000, 1, 16, false), LIMITS, AudioProblem::Empty),
            ("all zero samples", wav(&silence(44100, 1.0), 44100, 2, 16, false), LIMITS, AudioProblem::Silent),
            (
                "a full-scale square wave",
                wav(&square, 8000, 1, 16, false),
                LIMITS,
                AudioProblem::Clipped { percent: 100.0 },
            ),
            (
                "10 s of tone, 5 s allowed",
                wav(&tone(8000, 440.0, 10.0, 0.3), 8000, 1, 16, false),
                UploadLimits { max_seconds: 5, ..LIMITS },
                AudioProblem::TooLong { seconds: 10, max: 5 },
            ),
            // Over the limit is refused before anything is decoded, whatever the bytes are.
            ("over max_bytes", noise[..1].repeat(10_001), short, AudioProblem::TooLarge { bytes: 10_001, max: 10_000 }),
            (
                "just at max_bytes",
                noise[..1].repeat(10_000),
                short,
                AudioProblem::NotAudio("neither a WAV nor an MP3 file".into()),
            ),
        ];
        for (name, file, limits, expected) in cases {
            assert_eq!(prepare(&file, &limits), Err(expected), "{name}");
        }
        assert!(
            matches!(prepare(&not_a_wav_inside, &LIMITS), Err(AudioProblem::NotAudio(_))),
            "a RIFF header over noise"
        );
        let message = AudioProblem::NotAudio("x".into()).to_string();
        assert!(message.starts_with("音声ファイルではありません / not an audio file: "), "{message}");
    }

    #[test]
    fn a_loud_recording_that_is_not_flat_topped_is_not_clipped() {
        // Peaks at full scale, but touches it in one or two samples of each half cycle.
        for (rate, hz) in [(8000, 440.0), (8000, 1000.0), (44100, 100.0), (48000, 3000.0)] {
            let loud = tone(rate, hz, 2.0, 1.0);
            let prepared = prepare(&wav(&loud, rate, 1, 16, false), &LIMITS);
            assert!(
                prepared.as_ref().is_ok_and(|p| (TARGET - 2..=TARGET).contains(&peak(p))),
                "{hz} Hz at {rate} Hz: {prepared:?}"
            );
        }
        // A tone driven into clipping (2 × full scale, cut at full scale) is refused.
        let driven: Vec<f32> = tone(8000, 440.0, 2.0, 2.0).iter().map(|s| s.clamp(-1.0, 1.0)).collect();
        let refused = prepare(&wav(&driven, 8000, 1, 16, false), &LIMITS);
        assert!(matches!(refused, Err(AudioProblem::Clipped { percent }) if percent > 30.0), "{refused:?}");
        // A float file louder than full scale is scaled down, not refused.
        let hot = tone(8000, 440.0, 2.0, 2.5);
        assert_eq!(peak(&prepare(&wav(&hot, 8000, 1, 32, true), &LIMITS).unwrap()), TARGET);
    }

    #[test]
    fn a_wav_streamed_to_a_pipe_gets_its_real_sizes() {
        let mut file = wav(&tone(8000, 440.0, 0.5, 0.3), 8000, 1, 16, false);
        file[4..8].copy_from_slice(&0x7fff_f024u32.to_le_bytes());
        file[40..44].copy_from_slice(&0x7fff_f000u32.to_le_bytes());
        assert!(prepare(&file, &LIMITS).is_err(), "as written");
        let fixed = streamed_wav_sizes_fixed(file);
        assert_eq!(prepare(&fixed, &LIMITS).unwrap().len(), 4000);
    }

    #[test]
    fn an_mp3_is_decoded_like_a_wav() {
        // lame 3.100: `lame -m m -b 24 --add-id3v2` of `padded_tone(22050, 1.0)` at 16 bits.
        let file = include_bytes!("../../tests/data/audio/tone-1khz.mp3");
        let samples = prepare(file, &LIMITS).unwrap();
        assert!((9600 - 200..=9600 + 200).contains(&samples.len()), "{} samples", samples.len());
        assert_eq!(peak(&samples), TARGET);
        let cut = &file[..file.len() / 2];
        assert!(prepare(cut, &LIMITS).is_ok(), "an MP3 cut short plays what it has");
        let short = UploadLimits { max_seconds: 1, ..LIMITS };
        assert!(matches!(prepare(file, &short), Err(AudioProblem::TooLong { max: 1, .. })));
        let mut garbage = b"ID3\x03\x00\x00\x00\x00\x00\x00".to_vec();
        garbage.extend((0..3000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        assert!(
            matches!(prepare(&garbage, &LIMITS), Err(AudioProblem::NotAudio(_))),
            "{:?}",
            prepare(&garbage, &LIMITS)
        );
    }

    fn command(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[tokio::test]
    async fn japanese_text_is_spoken_by_espeak_ng() {
        let tts = command(&["espeak-ng", "-v", "ja", "--stdout"]);
        if std::process::Command::new("espeak-ng").arg("--version").output().is_err() {
            assert!(!std::env::var("CI").is_ok_and(|v| v == "true"), "espeak-ng must be installed under CI");
            eprintln!("SKIPPED japanese_text_is_spoken_by_espeak_ng: espeak-ng is not installed");
            return;
        }
        let samples = speak("お電話ありがとうございます", &tts, &LIMITS).await.unwrap();
        let seconds = samples.len() as f32 / 8000.0;
        assert!((0.8..8.0).contains(&seconds), "{seconds} s");
        assert_eq!(peak(&samples), TARGET);
        let loud = samples.chunks(160).filter(|f| peak(f) > 3000).count();
        assert!(loud * 160 > samples.len() / 3, "mostly speech: {loud} loud frames of {}", samples.len() / 160);
    }

    #[tokio::test]
    async fn a_synthesiser_that_is_missing_fails_or_hangs_is_named() {
        let missing = speak("こんにちは", &command(&["no-such-synthesiser-xyz", "--stdout"]), &LIMITS).await;
        match missing {
            Err(AudioProblem::Tts(why)) => assert!(why.starts_with("no-such-synthesiser-xyz: cannot start"), "{why}"),
            other => panic!("{other:?}"),
        }
        let failing = speak("こんにちは", &command(&["sh", "-c", "echo broken voice >&2; exit 3"]), &LIMITS).await;
        match failing {
            Err(AudioProblem::Tts(why)) => assert!(why.starts_with("sh: exit status: 3: broken voice"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(speak("x", &[], &LIMITS).await, Err(AudioProblem::Tts(_))));
        let started = std::time::Instant::now();
        let hung = speak_within("こんにちは", &command(&["sleep", "60"]), &LIMITS, Duration::from_millis(300)).await;
        match hung {
            Err(AudioProblem::Tts(why)) => assert!(why.starts_with("sleep: no answer within 0.3 s"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        let flood =
            speak("x", &command(&["head", "-c", "20000", "/dev/zero"]), &UploadLimits { max_bytes: 10_000, ..LIMITS })
                .await;
        match flood {
            Err(AudioProblem::Tts(why)) => assert!(why.starts_with("head: wrote more than 10000 bytes"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
