//! Instructions of the ITCH replay into per-symbol books, on the real (Rule 612) tick or on
//! ITCH's $0.0001 unit, counted by callgrind (`replay` is the function to read):
//!
//! ```text
//! cargo build --release -p hftbook-core --example itch_ticks
//! valgrind --tool=callgrind target/release/examples/itch_ticks real 1000000
//! valgrind --tool=callgrind target/release/examples/itch_ticks raw 1000000
//! callgrind_annotate --inclusive=yes callgrind.out.<pid> | grep itch_ticks::replay
//! ```
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use hftbook_core::itch::{encode_all, Generator, ItchBooks};

const SYMBOLS: [&str; 8] = [
    "AAPL", "MSFT", "AMZN", "NVDA", "TSLA", "META", "GOOG", "INTC",
];

#[inline(never)]
fn replay(bytes: &[u8], raw: bool) -> ItchBooks {
    let mut books = ItchBooks::new(None, false);
    if raw {
        for s in SYMBOLS {
            books.set_tick(s, 1).unwrap();
        }
    }
    books.apply_stream(bytes).unwrap();
    books
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "real".into());
    let n: usize = args.next().map_or(1_000_000, |s| s.parse().expect("N"));
    let g = Generator::new(n, 42, &SYMBOLS).generate();
    let bytes = encode_all(&g.messages).unwrap();
    let t = std::time::Instant::now();
    let books = replay(&bytes, mode == "raw");
    let secs = t.elapsed().as_secs_f64();
    let skip: usize = books
        .books
        .iter()
        .map(|b| b.book.level_count(hftbook_core::Side::Buy))
        .sum();
    println!(
        "mode {mode} messages {} ticks {:?} bid levels {skip} {:.2} M msg/s",
        books.messages,
        books.books.iter().map(|b| b.tick).collect::<Vec<_>>(),
        books.messages as f64 / secs / 1e6
    );
}
