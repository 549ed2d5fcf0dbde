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

/// Whether `text` is an RFC 3339 `date-time` (section 5.6): `YYYY-MM-DDTHH:MM:SS`, an optional
/// fraction, then `Z` or `+HH:MM`/`-HH:MM`. Catalog examples such as `2025-07-24T00:00+08:00`
/// (no seconds) are not, and a client parsing times strictly would refuse them.
pub(crate) fn is_rfc3339(text: &str) -> bool {
    let s = text.as_bytes();
    let Some((head, mut rest)) = s.split_at_checked(19) else {
        return false;
    };
    let shape_ok = head.iter().enumerate().all(|(i, b)| match i {
        4 | 7 => *b == b'-',
        10 => matches!(b, b'T' | b't'),
        13 | 16 => *b == b':',
        _ => b.is_ascii_digit(),
    });
    let in_range = |at: usize, min: u8, max: u8| {
        let n = number(head, at);
        (min..=max).contains(&n)
    };
    if !(shape_ok
        && in_range(5, 1, 12)
        && in_range(8, 1, 31)
        && in_range(11, 0, 23)
        && in_range(14, 0, 59)
        && in_range(17, 0, 60))
    {
        return false;
    }
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return false;
        }
        rest = fraction.get(digits..).unwrap_or_default();
    }
    match rest {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            let offset = [*h1, *h2, *m1, *m2];
            offset.iter().all(u8::is_ascii_digit)
                && number(&offset, 0) <= 23
                && number(&offset, 2) <= 59
        }
        _ => false,
    }
}

/// The two ASCII digits at `at` as a number (the caller has checked they are digits).
fn number(digits: &[u8], at: usize) -> u8 {
    let digit = |i: usize| digits.get(i).map_or(0, |d| d.wrapping_sub(b'0'));
    digit(at) * 10 + digit(at + 1)
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
        assert!(is_rfc3339(&rfc3339_cst(1_599_703_200)));
    }

    #[test]
    fn recognises_rfc3339_date_times() {
        for ok in [
            "2026-11-30T10:34:56+08:00",
            "2015-05-20T13:29:35.120+08:00",
            "2026-01-01T00:00:00Z",
            "2016-12-31t23:59:60-00:30",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "2025-07-24T00:00+08:00",
            "2020-05-20T13:29:35.08:00",
            "2026-11-30 10:34:56+08:00",
            "2026-13-30T10:34:56+08:00",
            "2026-11-00T10:34:56+08:00",
            "2026-11-30T24:00:00+08:00",
            "2026-11-30T10:34:56",
            "2026-11-30T10:34:56.+08:00",
            "2026-11-30T10:34:56+0800",
            "2026-11-30T10:34:56+24:00",
            "20091225091010",
            "２０２６-11-30T10:34:56+08:00",
            "",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }
}
