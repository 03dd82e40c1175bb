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

/// Parse a plain decimal (`-12.3400`, `7`, `.5`) into `(mantissa, scale)`.
fn parse_decimal(text: &str) -> Result<(i128, u32), ParseError> {
    let t = text.trim();
    let (neg, body) = match t.as_bytes().first() {
        None => return Err(ParseError::NotANumber),
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        Some(_) => (false, t),
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
    // Leading zeros of the integer part and trailing zeros of the fraction carry no value;
    // dropping them keeps the mantissa and the scale small.
    let int_part = int_part.trim_start_matches('0');
    let frac_part = frac_part.trim_end_matches('0');
    if frac_part.len() > 30 {
        return Err(ParseError::TooManyDigits { fraction: true });
    }
    let too_big = ParseError::TooManyDigits { fraction: false };
    if int_part.len() > 30 {
        return Err(too_big);
    }
    let mut m: i128 = 0;
    for b in int_part.bytes().chain(frac_part.bytes()) {
        m = m
            .checked_mul(10)
            .and_then(|m| m.checked_add(i128::from(b - b'0')))
            .ok_or(too_big)?;
    }
    Ok((if neg { -m } else { m }, frac_part.len() as u32))
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
        assert!(matches!(
            t.ticks_from_str("1e5"),
            Err(OrderError::PriceNotANumber { .. })
        ));
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
