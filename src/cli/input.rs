//! What `wxpay` reads besides flags: stdin for `-` and `@-`.

use std::io::Read as _;

use crate::Failure;

/// All of stdin, as text.
pub(crate) fn stdin_text() -> Result<String, Failure> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| Failure::usage(format!("cannot read stdin: {e}")))?;
    Ok(text)
}

/// The argument itself, or stdin without its final line break for `-`.
pub(crate) fn argument_or_stdin(argument: &str) -> Result<String, Failure> {
    if argument != "-" {
        return Ok(argument.to_string());
    }
    let text = stdin_text()?;
    let trimmed = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    Ok(trimmed.to_string())
}
