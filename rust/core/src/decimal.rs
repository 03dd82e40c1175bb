//! Exact conversion between decimal text and integer ticks.

use crate::error::OrderError;
use crate::types::Price;

/// An instrument's tick size as an exact decimal `mantissa × 10^-scale`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TickSize {
    mantissa: u64,
    scale: u32,
}

/// Why a text did not parse as a plain decimal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ParseError {
    /// Not a plain decimal at all.
    NotANumber,
    /// A plain decimal with more significant digits than the mantissa holds, in the integer
    /// part (`fraction == false`: the value is huge) or the fraction (`true`: it is finer
    /// than any tick grid).
    TooManyDigits { fraction: bool },
}

/// Largest number of significant digits kept on either side of the decimal point.
const MAX_DIGITS: usize = 30;

/// Parse a decimal (`-12.3400`, `7`, `.5`, and exponent notation as `decimal.Decimal` reads
/// it: `1e2`, `1.5E+1`, `25e-2`) into an exact `(mantissa, scale)`: value = mantissa ×
/// 10^-scale.
fn parse_decimal(text: &str) -> Result<(i128, u32), ParseError> {
    let t = text.trim();
    let (neg, body) = match t.as_bytes().first() {
        None => return Err(ParseError::NotANumber),
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        Some(_) => (false, t),
    };
    let (body, exp) = match body.split_once(['e', 'E']) {
        Some((b, e)) => (b, parse_exponent(e)?),
        None => (body, 0),
    };
    let (int_part, frac_part) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(ParseError::NotANumber);
    }
    if !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(ParseError::NotANumber);
    }
    // The value is digits × 10^-scale. Leading zeros carry no value and trailing zeros move
    // into the scale, which keeps the mantissa and the scale small.
    let int_part = int_part.trim_start_matches('0');
    let digits_all = || int_part.bytes().chain(frac_part.bytes());
    let leading = if int_part.is_empty() {
        frac_part.bytes().take_while(|&b| b == b'0').count()
    } else {
        0
    };
    let trailing = digits_all().rev().take_while(|&b| b == b'0').count();
    let n_digits = int_part.len() + frac_part.len();
    if leading + trailing >= n_digits {
        return Ok((0, 0)); // zero, whatever its exponent
    }
    let sig = n_digits - leading - trailing; // significant digits
                                             // scale = (fraction digits - trailing zeros) - exponent, as i64: it can be far out.
    let scale = frac_part.len() as i64 - trailing as i64 - exp;
    // Digits left of the point: the significant ones not in the fraction.
    let int_digits = sig as i64 - scale;
    if int_digits > MAX_DIGITS as i64 {
        return Err(ParseError::TooManyDigits { fraction: false });
    }
    if scale > MAX_DIGITS as i64 {
        return Err(ParseError::TooManyDigits { fraction: true });
    }
    let too_big = ParseError::TooManyDigits { fraction: false };
    let mut m: i128 = 0;
    for b in digits_all().skip(leading).take(sig) {
        m = m
            .checked_mul(10)
            .and_then(|m| m.checked_add(i128::from(b - b'0')))
            .ok_or(too_big)?;
    }
    // A negative scale is a whole number with that many zeros appended (at most 30).
    let (m, scale) = if scale < 0 {
        let shift = u32::try_from(-scale).map_err(|_| too_big)?;
        (
            m.checked_mul(pow10(shift).ok_or(too_big)?).ok_or(too_big)?,
            0,
        )
    } else {
        (m, scale as u32)
    };
    Ok((if neg { -m } else { m }, scale))
}

/// The exponent after `e`/`E`: an optional sign and at least one digit. Exponents beyond
/// ±10^9 are clamped there: such a value is zero, out of range or finer than any tick anyway.
fn parse_exponent(text: &str) -> Result<i64, ParseError> {
    let (neg, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::NotANumber);
    }
    let digits = digits.trim_start_matches('0');
    let e: i64 = if digits.len() > 9 {
        1_000_000_000
    } else {
        digits.parse().unwrap_or(0)
    };
    Ok(if neg { -e } else { e })
}

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

impl TickSize {
    /// One cent: `0.01`.
    pub const CENT: TickSize = TickSize {
        mantissa: 1,
        scale: 2,
    };

    /// Parse a tick size such as `"0.01"`.
    ///
    /// # Errors
    /// [`OrderError::InvalidTickSize`] unless the text is a positive decimal.
    pub fn parse(text: &str) -> Result<TickSize, OrderError> {
        let err = || OrderError::InvalidTickSize {
            value: text.to_string(),
        };
        let (m, scale) = parse_decimal(text).map_err(|_| err())?;
        if m <= 0 || scale > 18 {
            return Err(err());
        }
        let mantissa = u64::try_from(m).map_err(|_| err())?;
        Ok(TickSize { mantissa, scale })
    }

    /// Decimal places needed to print any price on this tick grid.
    pub fn scale(&self) -> u32 {
        self.scale
    }

    /// The tick size's decimal mantissa (`tick = mantissa × 10^-scale`).
    pub fn mantissa(&self) -> u64 {
        self.mantissa
    }

    /// The price as the nearest `f64` to its exact decimal value (for display and numpy
    /// columns; matching never uses it).
    pub fn to_f64(&self, price: Price) -> f64 {
        let num = i128::from(price.0) * i128::from(self.mantissa);
        if num.unsigned_abs() < (1u128 << 53) && self.scale <= 22 {
            // Both operands are exact doubles, so one division rounds correctly.
            num as f64 / 10f64.powi(self.scale as i32)
        } else {
            self.format(price).parse().unwrap_or(f64::NAN)
        }
    }

    /// Convert decimal text to ticks, exactly.
    ///
    /// # Errors
    /// [`OrderError::PriceNotANumber`], [`OrderError::PriceNotOnTick`] or
    /// [`OrderError::PriceOutOfRange`].
    pub fn ticks_from_str(&self, text: &str) -> Result<Price, OrderError> {
        let not_on_tick = || OrderError::PriceNotOnTick {
            price: text.trim().to_string(),
            tick_size: self.to_string(),
        };
        let (m, scale) = match parse_decimal(text) {
            Ok(v) => v,
            Err(ParseError::NotANumber) => {
                return Err(OrderError::PriceNotANumber {
                    value: text.to_string(),
                })
            }
            Err(ParseError::TooManyDigits { fraction: true }) => return Err(not_on_tick()),
            Err(ParseError::TooManyDigits { fraction: false }) => {
                let neg = text.trim_start().starts_with('-');
                return Err(OrderError::PriceOutOfRange {
                    ticks: if neg { i64::MIN } else { i64::MAX },
                });
            }
        };
        // value = m / 10^scale ; ticks = value / (mantissa / 10^tscale)
        //       = m * 10^tscale / (mantissa * 10^scale)
        let out_of_range = || OrderError::PriceOutOfRange {
            ticks: if m < 0 { i64::MIN } else { i64::MAX },
        };
        let num = m
            .checked_mul(pow10(self.scale).ok_or_else(out_of_range)?)
            .ok_or_else(out_of_range)?;
        let den = i128::from(self.mantissa)
            .checked_mul(pow10(scale).ok_or_else(out_of_range)?)
            .ok_or_else(out_of_range)?;
        if num % den != 0 {
            return Err(not_on_tick());
        }
        let ticks = num / den;
        let ticks = i64::try_from(ticks).map_err(|_| out_of_range())?;
        Price::new_checked(ticks)
    }

    /// Format ticks as decimal text with exactly [`TickSize::scale`] decimals.
    pub fn format(&self, price: Price) -> String {
        let v = i128::from(price.0) * i128::from(self.mantissa);
        let neg = v < 0;
        let v = v.unsigned_abs();
        let s = self.scale;
        let sign = if neg { "-" } else { "" };
        if s == 0 {
            return format!("{sign}{v}");
        }
        let p = 10u128.pow(s);
        format!("{sign}{}.{:0width$}", v / p, v % p, width = s as usize)
    }
}

impl std::fmt::Display for TickSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.format(Price(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_format_round_trip() {
        let t = TickSize::parse("0.01").unwrap();
        assert_eq!(t.ticks_from_str("100.25").unwrap(), Price(10025));
        assert_eq!(t.ticks_from_str("100.2500").unwrap(), Price(10025));
        assert_eq!(t.ticks_from_str("-0.5").unwrap(), Price(-50));
        assert_eq!(t.ticks_from_str("7").unwrap(), Price(700));
        assert_eq!(t.format(Price(10025)), "100.25");
        assert_eq!(t.format(Price(-5)), "-0.05");
        assert_eq!(t.to_string(), "0.01");
        let q = TickSize::parse("0.25").unwrap();
        assert_eq!(q.ticks_from_str("1.75").unwrap(), Price(7));
        assert_eq!(q.format(Price(7)), "1.75");
        let w = TickSize::parse("5").unwrap();
        assert_eq!(w.ticks_from_str("15").unwrap(), Price(3));
        assert_eq!(w.format(Price(3)), "15");
        assert_eq!(t.to_f64(Price(10025)), 100.25);
        assert_eq!(t.to_f64(Price(-30)), -0.3);
        assert_eq!(TickSize::parse("0.0001").unwrap().to_f64(Price(1)), 0.0001);
    }

    #[test]
    fn exponent_notation_as_decimal_reads_it() {
        let t = TickSize::parse("0.01").unwrap();
        for (text, ticks) in [
            ("1e2", 10_000),
            ("1E+2", 10_000),
            ("1E2", 10_000),
            ("1.5e1", 1_500),
            ("1e-2", 1),
            ("-1e-2", -1),
            ("+2.5E-1", 25),
            ("25e-2", 25),
            ("0.0125e2", 125),
            ("100e-2", 100),
            ("1.00e0", 100),
            (" 1e2 ", 10_000),
            ("0e99999999999", 0),
            ("-0.000e-5", 0),
            ("4.6116860184273879e16", 4_611_686_018_427_387_900), // 2^62 - 4 ticks
        ] {
            assert_eq!(t.ticks_from_str(text), Ok(Price(ticks)), "{text}");
        }
        // Still exact and on the tick grid.
        let e = t.ticks_from_str("1e-3").unwrap_err();
        assert_eq!(
            e.to_string(),
            "price 1e-3 is not a multiple of tick_size 0.01"
        );
        assert!(matches!(
            t.ticks_from_str("1.2345e1"),
            Err(OrderError::PriceNotOnTick { .. })
        ));
        assert!(matches!(
            t.ticks_from_str("1e-40"),
            Err(OrderError::PriceNotOnTick { .. })
        ));
        assert!(matches!(
            t.ticks_from_str("1e-99999999999999"),
            Err(OrderError::PriceNotOnTick { .. })
        ));
        // Range-checked: 1e30 is 1e32 ticks of 0.01; 1e17 is 1e19 (over 2^62 - 1).
        for text in [
            "1e30",
            "1e17",
            "4.611686018427387904e16",
            "1E+99999999999999999999",
        ] {
            assert!(
                matches!(
                    t.ticks_from_str(text),
                    Err(OrderError::PriceOutOfRange { ticks }) if ticks > 0
                ),
                "{text}"
            );
        }
        assert!(matches!(
            t.ticks_from_str("-1e30"),
            Err(OrderError::PriceOutOfRange { ticks: i64::MIN })
        ));
        assert_eq!(
            t.ticks_from_str("1e16"),
            Ok(Price(1_000_000_000_000_000_000))
        );
        // Tick sizes too.
        assert_eq!(TickSize::parse("1e-2"), Ok(TickSize::CENT));
        assert_eq!(TickSize::parse("25E-2").unwrap().to_string(), "0.25");
    }

    #[test]
    fn rejects_off_tick_and_garbage() {
        let t = TickSize::parse("0.01").unwrap();
        let e = t.ticks_from_str("100.255").unwrap_err();
        assert_eq!(
            e.to_string(),
            "price 100.255 is not a multiple of tick_size 0.01"
        );
        assert!(matches!(
            t.ticks_from_str("abc"),
            Err(OrderError::PriceNotANumber { .. })
        ));
        assert!(matches!(
            t.ticks_from_str(""),
            Err(OrderError::PriceNotANumber { .. })
        ));
        for text in [
            "1e", "e5", "1e+", "1e+-2", "1e2.5", "1e2e3", "1E 2", "0x10", "1_0",
        ] {
            assert!(
                matches!(
                    t.ticks_from_str(text),
                    Err(OrderError::PriceNotANumber { .. })
                ),
                "{text}"
            );
        }
        assert!(matches!(
            t.ticks_from_str("99999999999999999999999"),
            Err(OrderError::PriceOutOfRange { .. })
        ));
        // More digits than the mantissa holds: still a number, out of range or off the grid.
        let huge = format!("1{}", "0".repeat(40));
        assert!(matches!(
            t.ticks_from_str(&huge),
            Err(OrderError::PriceOutOfRange { ticks: i64::MAX })
        ));
        assert!(matches!(
            t.ticks_from_str(&format!("-{huge}.5")),
            Err(OrderError::PriceOutOfRange { ticks: i64::MIN })
        ));
        assert!(matches!(
            t.ticks_from_str(&format!("1.{}1", "0".repeat(40))),
            Err(OrderError::PriceNotOnTick { .. })
        ));
        assert_eq!(
            t.ticks_from_str(&format!("{}1.50{}", "0".repeat(40), "0".repeat(40))),
            Ok(Price(150))
        );
        assert!(TickSize::parse("0").is_err());
        assert!(TickSize::parse("-0.01").is_err());
        assert!(TickSize::parse("x").is_err());
    }
}
