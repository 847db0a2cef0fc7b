//! Standard five-field cron expressions (`minute hour day-of-month month day-of-week`), as
//! Akto's older job runner passed them to `copilot-shield -schedule '<cron>'`.
//!
//! Times are UTC. Each field takes `*`, a value, a range `a-b`, a step `*/n`, `a-b/n` or `a/n`
//! (from `a` to the field's end), and comma-separated lists of those. Months and weekdays also
//! take three-letter English names (`JAN`, `MON`, case-insensitive); Sunday is `0` or `7`.
//! As in Vixie cron, when both day-of-month and day-of-week are restricted (neither starts
//! with `*`), a day matching either one fires. The shorthands `@yearly` (`@annually`),
//! `@monthly`, `@weekly`, `@daily` (`@midnight`) and `@hourly` are accepted.
//!
//! ```
//! use connector::cron::Cron;
//! use time::macros::datetime;
//!
//! let every_five = Cron::parse("*/5 * * * *").unwrap();
//! assert_eq!(every_five.next_after(datetime!(2026-03-01 12:03:20 UTC)), Some(datetime!(2026-03-01 12:05 UTC)));
//! assert!(Cron::parse("61 * * * *").is_err());
//! ```

use std::fmt;
use std::str::FromStr;
use time::{Date, Duration, Month, OffsetDateTime, Time};

/// A cron expression that cannot be used; the text says which field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron expression `{expression}`: {problem}")]
pub struct CronError {
    expression: String,
    problem: String,
}

impl CronError {
    fn new(expression: &str, problem: impl Into<String>) -> Self {
        Self {
            expression: expression.to_owned(),
            problem: problem.into(),
        }
    }

    /// What is wrong, without the expression.
    pub fn problem(&self) -> &str {
        &self.problem
    }
}

/// A parsed five-field cron schedule.
#[derive(Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    // Bit 0 is Sunday; a `7` sets bit 0 too.
    days_of_week: u64,
    // Whether the field was `*` (or `*/n`): changes how the two day fields combine.
    dom_any: bool,
    dow_any: bool,
}

impl fmt::Debug for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Cron").field(&self.text).finish()
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY_OF_MONTH: Field = Field {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
};
const DAY_OF_WEEK: Field = Field {
    name: "day of week",
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
};

impl Field {
    fn value(&self, text: &str, expr: &str) -> Result<u32, CronError> {
        let n = if let Ok(n) = text.parse::<u32>() {
            n
        } else if let Some(i) = self
            .names
            .iter()
            .position(|name| name.eq_ignore_ascii_case(text))
        {
            // Month names start at 1, weekday names at 0 (Sunday).
            self.min + u32::try_from(i).unwrap_or(0)
        } else {
            return Err(CronError::new(
                expr,
                format!("`{text}` is not a valid {} value", self.name),
            ));
        };
        if n < self.min || n > self.max {
            return Err(CronError::new(
                expr,
                format!(
                    "{} {n} is out of range ({}-{})",
                    self.name, self.min, self.max
                ),
            ));
        }
        Ok(n)
    }

    /// The bit set of `text`, and whether it started with `*`.
    fn parse(&self, text: &str, expr: &str) -> Result<(u64, bool), CronError> {
        let mut bits = 0u64;
        for item in text.split(',') {
            if item.is_empty() {
                return Err(CronError::new(
                    expr,
                    format!("empty list item in the {} field", self.name),
                ));
            }
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => {
                    let step: u32 = s.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        CronError::new(
                            expr,
                            format!(
                                "step `{s}` in the {} field is not a positive number",
                                self.name
                            ),
                        )
                    })?;
                    (r, Some(step))
                }
                None => (item, None),
            };
            let (lo, hi) = if range == "*" {
                (self.min, self.max)
            } else if let Some((a, b)) = range.split_once('-') {
                let (a, b) = (self.value(a, expr)?, self.value(b, expr)?);
                if a > b {
                    return Err(CronError::new(
                        expr,
                        format!("range `{range}` in the {} field runs backwards", self.name),
                    ));
                }
                (a, b)
            } else {
                let a = self.value(range, expr)?;
                // `a/n` means from `a` to the end of the field.
                (a, if step.is_some() { self.max } else { a })
            };
            let step = step.unwrap_or(1);
            let mut v = lo;
            while v <= hi {
                bits |= 1 << v;
                v += step;
            }
        }
        Ok((bits, text.starts_with('*')))
    }
}

impl Cron {
    /// Parses a five-field expression or an `@` shorthand.
    pub fn parse(expression: &str) -> Result<Cron, CronError> {
        let trimmed = expression.trim();
        let expanded = match trimmed.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            s if s.starts_with('@') => {
                return Err(CronError::new(
                    expression,
                    "unknown shorthand (use @yearly, @monthly, @weekly, @daily or @hourly)",
                ));
            }
            _ => trimmed,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(CronError::new(
                expression,
                format!(
                    "expected 5 fields (minute hour day-of-month month day-of-week), found {}",
                    fields.len()
                ),
            ));
        }
        let (minutes, _) = MINUTE.parse(fields[0], expression)?;
        let (hours, _) = HOUR.parse(fields[1], expression)?;
        let (days_of_month, dom_any) = DAY_OF_MONTH.parse(fields[2], expression)?;
        let (months, _) = MONTH.parse(fields[3], expression)?;
        let (mut days_of_week, dow_any) = DAY_OF_WEEK.parse(fields[4], expression)?;
        if days_of_week & (1 << 7) != 0 {
            days_of_week = (days_of_week | 1) & !(1 << 7);
        }
        let cron = Cron {
            text: trimmed.to_owned(),
            minutes,
            hours,
            days_of_month,
            months,
            days_of_week,
            dom_any,
            dow_any,
        };
        // `0 0 30 2 *` parses but never fires: refuse it rather than wait forever.
        let probe = Date::from_calendar_date(2000, Month::January, 1)
            .map(|d| d.midnight().assume_utc())
            .map_err(|e| CronError::new(expression, e.to_string()))?;
        if cron.next_after(probe).is_none() {
            return Err(CronError::new(expression, "it matches no date"));
        }
        Ok(cron)
    }

    fn day_matches(&self, date: Date) -> bool {
        let dom = self.days_of_month & (1 << date.day()) != 0;
        let dow = self.days_of_week & (1 << date.weekday().number_days_from_sunday()) != 0;
        let month = self.months & (1 << u8::from(date.month())) != 0;
        let day = match (self.dom_any, self.dow_any) {
            (false, false) => dom || dow,
            _ => dom && dow,
        };
        month && day
    }

    /// The first time strictly after `after` (to the minute, UTC) at which the schedule fires;
    /// `None` if it does not fire within eight years.
    pub fn next_after(&self, after: OffsetDateTime) -> Option<OffsetDateTime> {
        let after = after.to_offset(time::UtcOffset::UTC);
        // The next whole minute.
        let start =
            after.replace_second(0).ok()?.replace_nanosecond(0).ok()? + Duration::minutes(1);
        let mut date = start.date();
        let (mut from_hour, mut from_minute) = (u32::from(start.hour()), u32::from(start.minute()));
        // Eight years cover every leap-day schedule.
        for _ in 0..(366 * 8) {
            if self.day_matches(date) {
                for hour in from_hour..24 {
                    if self.hours & (1 << hour) == 0 {
                        continue;
                    }
                    let first = if hour == from_hour { from_minute } else { 0 };
                    if let Some(minute) = (first..60).find(|m| self.minutes & (1 << m) != 0) {
                        let t =
                            Time::from_hms(u8::try_from(hour).ok()?, u8::try_from(minute).ok()?, 0)
                                .ok()?;
                        return Some(date.with_time(t).assume_utc());
                    }
                }
            }
            date = date.next_day()?;
            from_hour = 0;
            from_minute = 0;
        }
        None
    }
}

impl FromStr for Cron {
    type Err = CronError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cron::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn next(expr: &str, after: OffsetDateTime) -> OffsetDateTime {
        Cron::parse(expr).unwrap().next_after(after).unwrap()
    }

    #[test]
    fn common_schedules_fire_at_the_right_minute() {
        let t = datetime!(2026-03-04 10:07:30 UTC); // a Wednesday
        assert_eq!(next("* * * * *", t), datetime!(2026-03-04 10:08 UTC));
        assert_eq!(next("*/5 * * * *", t), datetime!(2026-03-04 10:10 UTC));
        assert_eq!(next("0 * * * *", t), datetime!(2026-03-04 11:00 UTC));
        assert_eq!(next("@hourly", t), datetime!(2026-03-04 11:00 UTC));
        assert_eq!(next("30 2 * * *", t), datetime!(2026-03-05 02:30 UTC));
        assert_eq!(next("0 0 1 * *", t), datetime!(2026-04-01 00:00 UTC));
        assert_eq!(next("@yearly", t), datetime!(2027-01-01 00:00 UTC));
        assert_eq!(next("0 9 * * MON-FRI", t), datetime!(2026-03-05 09:00 UTC));
        assert_eq!(next("0 9 * * sun", t), datetime!(2026-03-08 09:00 UTC));
        assert_eq!(next("0 9 * * 7", t), datetime!(2026-03-08 09:00 UTC));
        assert_eq!(next("15,45 8-10 * * *", t), datetime!(2026-03-04 10:15 UTC));
        assert_eq!(next("10-20/5 * * * *", t), datetime!(2026-03-04 10:10 UTC));
        assert_eq!(next("50/5 * * * *", t), datetime!(2026-03-04 10:50 UTC));
        assert_eq!(next("0 0 * JUL *", t), datetime!(2026-07-01 00:00 UTC));
        // Exactly on a firing minute: strictly after.
        assert_eq!(
            next("*/5 * * * *", datetime!(2026-03-04 10:10 UTC)),
            datetime!(2026-03-04 10:15 UTC)
        );
        // Year end and leap day.
        assert_eq!(
            next("0 0 29 2 *", datetime!(2026-03-01 00:00 UTC)),
            datetime!(2028-02-29 00:00 UTC)
        );
    }

    #[test]
    fn restricted_day_of_month_and_day_of_week_fire_on_either() {
        let t = datetime!(2026-03-04 10:07 UTC); // Wednesday 4 March
        // The 13th or any Friday: Friday 6 March comes first.
        assert_eq!(next("0 0 13 * 5", t), datetime!(2026-03-06 00:00 UTC));
        // With `*` in day of week, only the 13th.
        assert_eq!(next("0 0 13 * *", t), datetime!(2026-03-13 00:00 UTC));
        // With `*/2` in day of month, both must match (the field starts with `*`).
        assert_eq!(next("0 0 */2 * 5", t), datetime!(2026-03-13 00:00 UTC));
    }

    #[test]
    fn invalid_expressions_say_what_is_wrong() {
        for (expr, needle) in [
            ("", "expected 5 fields"),
            ("* * * *", "found 4"),
            ("* * * * * *", "found 6"),
            ("60 * * * *", "minute 60 is out of range"),
            ("* 24 * * *", "hour 24"),
            ("* * 0 * *", "day of month 0"),
            ("* * * 13 *", "month 13"),
            ("* * * * 8", "day of week 8"),
            ("*/0 * * * *", "step `0`"),
            ("5-1 * * * *", "runs backwards"),
            ("a * * * *", "`a` is not a valid minute"),
            ("1,,2 * * * *", "empty list item"),
            ("@reboot", "unknown shorthand"),
            ("0 0 30 2 *", "matches no date"),
        ] {
            let err = Cron::parse(expr).unwrap_err();
            assert!(err.to_string().contains(needle), "{expr}: {err}");
        }
    }

    #[test]
    fn next_after_is_always_later_and_matches() {
        let cron = Cron::parse("7,37 */3 * * 1-5").unwrap();
        let mut t = datetime!(2026-01-01 00:00 UTC);
        for _ in 0..200 {
            let n = cron.next_after(t).unwrap();
            assert!(n > t);
            assert!(n.minute() == 7 || n.minute() == 37);
            assert_eq!(n.hour() % 3, 0);
            let wd = n.weekday().number_days_from_sunday();
            assert!((1..=5).contains(&wd), "{n}");
            t = n;
        }
    }
}
