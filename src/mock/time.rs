//! WeChat Pay's time format (RFC 3339 in China Standard Time, `+08:00`). The clock is the
//! crate's one [`Formatter::timestamp`](crate::crypto::Formatter::timestamp).

pub(crate) use crate::crypto::unix_seconds;

/// `2026-11-22T14:09:39+08:00`, the form WeChat Pay writes times in.
pub(crate) fn rfc3339_cst(unix: i64) -> String {
    let local = unix.saturating_add(8 * 3600);
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+08:00",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn formats_in_china_standard_time() {
        assert_eq!(rfc3339_cst(0), "1970-01-01T08:00:00+08:00");
        // 2020-09-10T10:00:00+08:00, as in WeChat Pay's samples.
        assert_eq!(rfc3339_cst(1_599_703_200), "2020-09-10T10:00:00+08:00");
        assert_eq!(rfc3339_cst(951_782_400), "2000-02-29T08:00:00+08:00");
    }
}
