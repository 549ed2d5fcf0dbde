//! What `wxpay` prints: results on stdout (JSON pretty on a terminal, compact when piped),
//! notes on stderr, and shell-quoted command lines to paste.

use std::io::{self, IsTerminal as _, Write as _};

use crate::Failure;

/// Writes `bytes` to stdout. A closed pipe (`wxpay endpoints | head`) ends the output
/// quietly instead of failing.
pub(crate) fn stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::failed(format!("cannot write to stdout: {e}"))),
    }
}

/// Writes one line to stdout.
pub(crate) fn line(text: &str) -> Result<(), Failure> {
    let mut bytes = Vec::with_capacity(text.len() + 1);
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(b'\n');
    stdout(&bytes)
}

/// Prints JSON: indented when a person reads stdout, one line when a program does.
pub(crate) fn json(value: &serde_json::Value) -> Result<(), Failure> {
    let text = if io::stdout().is_terminal() {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    }
    .map_err(|e| Failure::failed(format!("cannot print the JSON: {e}")))?;
    line(&text)
}

/// One line on stderr, for what was verified and for errors. A closed stderr is ignored:
/// there is nowhere left to report anything.
pub(crate) fn note(text: &str) {
    let _ = writeln!(io::stderr().lock(), "{text}");
}

/// Quotes `word` for a POSIX shell when it needs it, so a printed command can be pasted.
pub(crate) fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | '@' | '+' | ',')
        });
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn quotes_only_what_the_shell_would_change() {
        assert_eq!(
            shell_quote("v3/pay/transactions/native"),
            "v3/pay/transactions/native"
        );
        assert_eq!(shell_quote("card_id=pbLat"), "card_id=pbLat");
        assert_eq!(shell_quote("v3/a/{id}"), "'v3/a/{id}'");
        assert_eq!(shell_quote(r#"{"a":"it's"}"#), r#"'{"a":"it'\''s"}'"#);
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("用户"), "'用户'");
    }
}
