//! The helpdesk line built into the binary: the shipped dialplan and announcements. They serve
//! when `[sip] dialplans` or `[sip] prompts` is left at its default and no such directory exists
//! where madoguchi runs, so `madoguchi serve` starts anywhere with nothing but the binary.

use std::path::Path;

pub const DIALPLAN_FILE: &str = "(built-in) dialplans/helpdesk.toml";
pub const DIALPLAN: &str = include_str!("../../dialplans/helpdesk.toml");

pub const PROMPTS: [(&str, &[u8]); 8] = [
    ("closed", include_bytes!("../../prompts/closed.wav")),
    ("goodbye", include_bytes!("../../prompts/goodbye.wav")),
    ("holiday", include_bytes!("../../prompts/holiday.wav")),
    ("invalid", include_bytes!("../../prompts/invalid.wav")),
    ("menu", include_bytes!("../../prompts/menu.wav")),
    ("transfer", include_bytes!("../../prompts/transfer.wav")),
    ("voicemail", include_bytes!("../../prompts/voicemail.wav")),
    ("welcome", include_bytes!("../../prompts/welcome.wav")),
];

/// Whether the configured directory `dir` is the default `default` and is not there, so the
/// built-in files serve instead.
pub fn serves(dir: &str, default: &str) -> bool {
    dir == default && !Path::new(dir).exists()
}
