//! A small UTC `strftime` for the `strftime_now` function that chat templates call
//! (e.g. Llama 3.x puts "Today Date: 26 Jul 2024" in the system prompt).

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// 0 = Monday .. 6 = Sunday
    pub weekday: u32,
    /// 1..=366
    pub yday: u32,
}

impl DateTime {
    /// Converts seconds since the Unix epoch (UTC) to a calendar date (proleptic Gregorian).
    pub fn from_unix(secs: i64) -> Self {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400) as u32;
        // Civil-from-days (Howard Hinnant's algorithm), eras of 400 years from 0000-03-01.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        const CUM: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
        let yday = CUM[month as usize - 1] + day + u32::from(leap && month > 2);
        Self {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
            // 1970-01-01 was a Thursday (index 3).
            weekday: (days + 3).rem_euclid(7) as u32,
            yday,
        }
    }

    /// Formats like C `strftime` in the "C" locale. Supported: `%Y %y %m %d %e %H %I %M %S
    /// %p %b %h %B %a %A %j %F %T %D %%`; any other `%x` is copied through unchanged.
    pub fn format(&self, fmt: &str) -> String {
        use std::fmt::Write;
        let mut out = String::with_capacity(fmt.len() + 16);
        let mut chars = fmt.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let Some(spec) = chars.next() else {
                out.push('%');
                break;
            };
            let month = MONTHS[self.month as usize - 1];
            let weekday = WEEKDAYS[self.weekday as usize];
            let hour12 = match self.hour % 12 {
                0 => 12,
                h => h,
            };
            // Writing to a String cannot fail.
            let _ = match spec {
                'Y' => write!(out, "{}", self.year),
                'y' => write!(out, "{:02}", self.year.rem_euclid(100)),
                'm' => write!(out, "{:02}", self.month),
                'd' => write!(out, "{:02}", self.day),
                'e' => write!(out, "{:2}", self.day),
                'H' => write!(out, "{:02}", self.hour),
                'I' => write!(out, "{hour12:02}"),
                'M' => write!(out, "{:02}", self.minute),
                'S' => write!(out, "{:02}", self.second),
                'p' => write!(out, "{}", if self.hour < 12 { "AM" } else { "PM" }),
                'b' | 'h' => write!(out, "{}", &month[..3]),
                'B' => write!(out, "{month}"),
                'a' => write!(out, "{}", &weekday[..3]),
                'A' => write!(out, "{weekday}"),
                'j' => write!(out, "{:03}", self.yday),
                'F' => write!(out, "{}-{:02}-{:02}", self.year, self.month, self.day),
                'T' => write!(
                    out,
                    "{:02}:{:02}:{:02}",
                    self.hour, self.minute, self.second
                ),
                'D' => write!(
                    out,
                    "{:02}/{:02}/{:02}",
                    self.month,
                    self.day,
                    self.year.rem_euclid(100)
                ),
                '%' => write!(out, "%"),
                other => write!(out, "%{other}"),
            };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_known_dates() {
        let e = DateTime::from_unix(0);
        assert_eq!(
            (e.year, e.month, e.day, e.weekday, e.yday),
            (1970, 1, 1, 3, 1)
        );
        // 2024-07-26 13:34:56 UTC = 1722000896 (a Friday, day 208 of a leap year).
        let d = DateTime::from_unix(1_722_000_896);
        assert_eq!(d.format("%d %b %Y"), "26 Jul 2024");
        assert_eq!(
            d.format("%A %B %e, %F %T %j %I%p %y %%"),
            "Friday July 26, 2024-07-26 13:34:56 208 01PM 24 %"
        );
        // 2000-02-29 (leap day of a 400-year leap year) and a pre-epoch date.
        assert_eq!(
            DateTime::from_unix(951_782_400).format("%F %a"),
            "2000-02-29 Tue"
        );
        assert_eq!(
            DateTime::from_unix(-86_400).format("%F %H:%M"),
            "1969-12-31 00:00"
        );
        assert_eq!(DateTime::from_unix(0).format("%Q %"), "%Q %");
    }
}
