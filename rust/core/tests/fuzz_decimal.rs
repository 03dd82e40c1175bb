//! Fuzzing the text → ticks parser: arbitrary input never panics and always gets a typed
//! error or an exact value; formatting and parsing round-trip for every representable price.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hftbook_core::{OrderError, Price, TickSize};
use proptest::prelude::*;

fn tick_sizes() -> impl Strategy<Value = TickSize> {
    prop_oneof![
        Just("0.01"),
        Just("1"),
        Just("0.25"),
        Just("5"),
        Just("0.0001"),
        Just("0.000000001")
    ]
    .prop_map(|t| TickSize::parse(t).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn arbitrary_text_never_panics(tick in tick_sizes(), text in any::<String>()) {
        match tick.ticks_from_str(&text) {
            Ok(p) => prop_assert!(Price::new_checked(p.ticks()).is_ok()),
            Err(
                OrderError::PriceNotANumber { .. }
                | OrderError::PriceNotOnTick { .. }
                | OrderError::PriceOutOfRange { .. },
            ) => {}
            Err(e) => prop_assert!(false, "unexpected error kind {e:?}"),
        }
    }

    #[test]
    fn number_like_text_never_panics(
        tick in tick_sizes(),
        text in "[-+]?[0-9]{0,45}(\\.[0-9]{0,45})?([eE][-+]?[0-9]{0,12})?",
    ) {
        let _ = tick.ticks_from_str(&text);
    }

    #[test]
    fn format_then_parse_is_exact(
        tick in tick_sizes(),
        ticks in (Price::MIN.ticks()..=Price::MAX.ticks()),
    ) {
        let text = tick.format(Price(ticks));
        prop_assert_eq!(tick.ticks_from_str(&text).unwrap(), Price(ticks));
    }

    #[test]
    fn exponent_notation_is_exact(
        tick in tick_sizes(),
        ticks in (Price::MIN.ticks()..=Price::MAX.ticks()),
        shift in 0u32..6,
    ) {
        // ticks × tick = (ticks × mantissa × 10^shift) × 10^-(scale + shift)
        let digits = i128::from(ticks) * i128::from(tick.mantissa()) * 10i128.pow(shift);
        let text = format!("{digits}e-{}", tick.scale() + shift);
        prop_assert_eq!(tick.ticks_from_str(&text).unwrap(), Price(ticks));
        let upper = format!("{digits}E{}", -i64::from(tick.scale() + shift));
        prop_assert_eq!(tick.ticks_from_str(&upper).unwrap(), Price(ticks));
    }

    #[test]
    fn arbitrary_tick_size_text_never_panics(text in any::<String>()) {
        if let Ok(t) = TickSize::parse(&text) {
            prop_assert!(t.mantissa() > 0);
            let s = t.to_string();
            prop_assert_eq!(TickSize::parse(&s).unwrap(), t);
        }
    }
}
