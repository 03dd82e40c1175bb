//! ITCH 5.0 throughput: framing + decoding of a generated 1M-message stream (target
//! ≥ 10 M msg/s), and the full replay into per-symbol books.
//!
//! `CARGO_TARGET_DIR=... cargo bench -p hftbook-core --bench itch`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hftbook_core::itch::{decode, encode_all, for_each_message, Frames, Generator, ItchBooks};

const N: usize = 1_000_000;
const SYMBOLS: [&str; 8] = [
    "AAPL", "MSFT", "AMZN", "NVDA", "TSLA", "META", "GOOG", "INTC",
];

fn itch(c: &mut Criterion) {
    let g = Generator::new(N, 42, &SYMBOLS).generate();
    let bytes = encode_all(&g.messages).unwrap();
    let mut grp = c.benchmark_group("itch");
    grp.throughput(Throughput::Elements(g.messages.len() as u64));
    grp.sample_size(10).measurement_time(Duration::from_secs(8));
    grp.bench_function("frames_only", |b| {
        b.iter(|| Frames::new(black_box(&bytes)).filter(|f| f.is_ok()).count())
    });
    grp.bench_function("parse", |b| {
        b.iter(|| {
            let mut shares = 0u64;
            for_each_message(black_box(&bytes), |_, m| {
                shares = shares.wrapping_add(u64::from(m.shares));
                Ok::<(), hftbook_core::itch::ItchError>(())
            })
            .unwrap();
            shares
        })
    });
    grp.bench_function("parse_decode_only", |b| {
        let frames: Vec<(u64, &[u8])> = Frames::new(&bytes).map(|f| f.unwrap()).collect();
        b.iter(|| {
            let mut shares = 0u64;
            for (off, body) in &frames {
                shares = shares.wrapping_add(u64::from(decode(body, *off).unwrap().shares));
            }
            shares
        })
    });
    grp.bench_function("replay_books", |b| {
        b.iter(|| {
            let mut books = ItchBooks::new(None, false);
            books.apply_stream(black_box(&bytes)).unwrap();
            books.messages
        })
    });
    // The books before issue 15: every symbol on ITCH's $0.0001 unit, so a cent-priced
    // stock's levels sit 100 ticks apart and most fall outside the ladder's window.
    grp.bench_function("replay_books_raw_tick", |b| {
        b.iter(|| {
            let mut books = ItchBooks::new(None, false);
            for s in SYMBOLS {
                books.set_tick(s, 1).unwrap();
            }
            books.apply_stream(black_box(&bytes)).unwrap();
            books.messages
        })
    });
    grp.finish();
}

criterion_group!(benches, itch);
criterion_main!(benches);
