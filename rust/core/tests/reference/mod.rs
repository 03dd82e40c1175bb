//! A deliberately naive reference order book, written from the matching rules alone.
//!
//! Each side is a `Vec<RefLevel>` kept sorted best price first; each level is a `Vec` of
//! orders, oldest first. Every lookup is a linear scan and a fill-or-kill check simply runs
//! the match on a clone of the whole book. It is slow on purpose: the point is that it is
//! obviously right, so that any disagreement with `OrderBook` points at the real book.
#![allow(dead_code)]

use hftbook_core::{
    CancelReason, Execution, Fill, LevelView, NewOrder, OrderError, OrderId, OrderStatus,
    OrderType, OrderView, Price, Qty, QtyLimits, Reason, RejectReason, Report, Side, StpMode,
    TimeInForce,
};

/// One resting order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefOrder {
    pub id: OrderId,
    pub side: Side,
    pub price: i64,
    pub visible: Qty,
    pub hidden: Qty,
    /// Iceberg display size; 0 for a normal order.
    pub display: Qty,
    pub account: u32,
    /// The STP mode resolved at submission (order's own, else the book default).
    pub stp: StpMode,
    pub post_only: bool,
    pub ts: u64,
}

impl RefOrder {
    pub fn open(&self) -> Qty {
        self.visible + self.hidden
    }
}

/// One price level: orders in time priority, oldest first.
#[derive(Clone, Debug)]
pub struct RefLevel {
    pub price: i64,
    pub queue: Vec<RefOrder>,
}

/// An incoming order while it matches.
#[derive(Clone, Copy, Debug)]
struct Taker {
    id: OrderId,
    side: Side,
    /// `None` for a market order: any price.
    limit: Option<i64>,
    qty: Qty,
    account: u32,
    stp: StpMode,
}

/// The naive book.
#[derive(Clone, Debug)]
pub struct RefBook {
    bids: Vec<RefLevel>,
    asks: Vec<RefLevel>,
    next_id: u64,
    trades: u64,
    stp_default: StpMode,
    limits: QtyLimits,
}

/// Is price `a` strictly better than price `b` for a resting order on `side`?
fn better(side: Side, a: i64, b: i64) -> bool {
    match side {
        Side::Buy => a > b,
        Side::Sell => a < b,
    }
}

/// Can a taker on `side` with limit `limit` trade with a maker resting at `maker_price`?
fn reaches(side: Side, limit: Option<i64>, maker_price: i64) -> bool {
    match (limit, side) {
        (None, _) => true,
        (Some(l), Side::Buy) => l >= maker_price,
        (Some(l), Side::Sell) => l <= maker_price,
    }
}

impl RefBook {
    pub fn new(limits: QtyLimits, stp_default: StpMode) -> RefBook {
        RefBook {
            bids: Vec::new(),
            asks: Vec::new(),
            next_id: 1,
            trades: 0,
            stp_default,
            limits,
        }
    }

    fn levels(&self, side: Side) -> &Vec<RefLevel> {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    fn levels_mut(&mut self, side: Side) -> &mut Vec<RefLevel> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// Every resting order, bids then asks.
    pub fn all_orders(&self) -> Vec<RefOrder> {
        let mut out = Vec::new();
        for lvl in self.bids.iter().chain(self.asks.iter()) {
            out.extend(lvl.queue.iter().cloned());
        }
        out
    }

    /// Where a live order sits: (side, level index, queue index).
    fn locate(&self, id: OrderId) -> Option<(Side, usize, usize)> {
        for side in [Side::Buy, Side::Sell] {
            for (li, lvl) in self.levels(side).iter().enumerate() {
                for (qi, o) in lvl.queue.iter().enumerate() {
                    if o.id == id {
                        return Some((side, li, qi));
                    }
                }
            }
        }
        None
    }

    pub fn is_live(&self, id: OrderId) -> bool {
        self.locate(id).is_some()
    }

    pub fn len(&self) -> usize {
        self.all_orders().len()
    }

    /// Best price on `side`.
    pub fn best_price(&self, side: Side) -> Option<i64> {
        self.levels(side).first().map(|l| l.price)
    }

    /// Take an order out of its level; drop the level if it is now empty.
    fn take_out(&mut self, side: Side, li: usize, qi: usize) -> RefOrder {
        let levels = self.levels_mut(side);
        let o = levels[li].queue.remove(qi);
        if levels[li].queue.is_empty() {
            levels.remove(li);
        }
        o
    }

    /// Put an order at the back of the queue at its price, creating the level if needed.
    fn put_back(&mut self, o: RefOrder) {
        let side = o.side;
        let levels = self.levels_mut(side);
        if let Some(lvl) = levels.iter_mut().find(|l| l.price == o.price) {
            lvl.queue.push(o);
            return;
        }
        let at = levels
            .iter()
            .position(|l| better(side, o.price, l.price))
            .unwrap_or(levels.len());
        levels.insert(
            at,
            RefLevel {
                price: o.price,
                queue: vec![o],
            },
        );
    }

    /// Would a limit price on `side` trade against the best opposite level?
    fn crosses_opposite(&self, side: Side, price: i64) -> bool {
        self.best_price(side.opposite())
            .is_some_and(|p| reaches(side, Some(price), p))
    }

    fn check_qty(&self, qty: Qty) -> Result<(), OrderError> {
        if qty == 0 {
            return Err(OrderError::ZeroQuantity { field: "qty" });
        }
        if qty < self.limits.min_qty {
            return Err(OrderError::QtyBelowMin {
                qty,
                min_qty: self.limits.min_qty,
            });
        }
        if qty > self.limits.max_qty {
            return Err(OrderError::QtyAboveMax {
                qty,
                max_qty: self.limits.max_qty,
            });
        }
        Ok(())
    }

    fn check_price(ticks: i64) -> Result<(), OrderError> {
        if !(Price::MIN.0..=Price::MAX.0).contains(&ticks) {
            return Err(OrderError::PriceOutOfRange { ticks });
        }
        Ok(())
    }

    /// Validation, in the book's documented order. The combination messages are the
    /// reference's own: tests compare `InvalidCombination` by variant only.
    fn validate(&self, o: &NewOrder) -> Result<(), OrderError> {
        self.check_qty(o.qty)?;
        if o.display_qty > o.qty {
            return Err(OrderError::DisplayAboveQty {
                display_qty: o.display_qty,
                qty: o.qty,
            });
        }
        let iceberg = o.display_qty > 0 && o.display_qty < o.qty;
        if o.order_type == OrderType::Market {
            if o.price.0 != 0 {
                return Err(OrderError::InvalidCombination {
                    field: "price",
                    rule: "market + price",
                });
            }
            if o.post_only {
                return Err(OrderError::InvalidCombination {
                    field: "post_only",
                    rule: "market + post_only",
                });
            }
            if iceberg {
                return Err(OrderError::InvalidCombination {
                    field: "display_qty",
                    rule: "market + iceberg",
                });
            }
        } else {
            Self::check_price(o.price.0)?;
            if o.post_only && o.tif != TimeInForce::Gtc {
                return Err(OrderError::InvalidCombination {
                    field: "post_only",
                    rule: "post_only + ioc/fok",
                });
            }
            if iceberg && o.tif != TimeInForce::Gtc {
                return Err(OrderError::InvalidCombination {
                    field: "display_qty",
                    rule: "iceberg + ioc/fok",
                });
            }
        }
        if o.id != 0 && self.is_live(o.id) {
            return Err(OrderError::DuplicateOrderId { id: o.id });
        }
        Ok(())
    }

    fn next_free_id(&mut self) -> OrderId {
        loop {
            let id = self.next_id;
            self.next_id += 1;
            if id != 0 && !self.is_live(id) {
                return id;
            }
        }
    }

    /// Match `t` against the opposite side, one maker at a time: always the first order
    /// of the best level. Returns (lots filled, stopped by self-trade prevention).
    fn run_match(&mut self, t: Taker, ts: u64, out: &mut Vec<Report>) -> (Qty, bool) {
        let opp = t.side.opposite();
        let mut left = t.qty;
        while left > 0 {
            let Some(lvl) = self.levels(opp).first() else {
                return (t.qty - left, false);
            };
            if !reaches(t.side, t.limit, lvl.price) {
                return (t.qty - left, false);
            }
            let price = lvl.price;
            let maker = lvl.queue[0].clone();
            let self_trade = t.account != 0 && maker.account == t.account && t.stp != StpMode::None;
            if self_trade {
                match t.stp {
                    StpMode::CancelNewest => return (t.qty - left, true),
                    StpMode::CancelOldest | StpMode::CancelBoth => {
                        self.take_out(opp, 0, 0);
                        out.push(Report::Cancelled {
                            id: maker.id,
                            side: maker.side,
                            price: Price(maker.price),
                            qty: maker.open(),
                            reason: CancelReason::SelfTrade,
                        });
                        if t.stp == StpMode::CancelBoth {
                            return (t.qty - left, true);
                        }
                        continue;
                    }
                    StpMode::None => unreachable!(),
                }
            }
            let q = left.min(maker.visible);
            left -= q;
            let mut m = self.take_out(opp, 0, 0);
            m.visible -= q;
            self.trades += 1;
            out.push(Report::Fill(Fill {
                seq: self.trades,
                ts,
                maker_id: m.id,
                taker_id: t.id,
                price,
                qty: q,
                maker_remaining: m.visible + m.hidden,
                taker_side: match t.side {
                    Side::Buy => 0,
                    Side::Sell => 1,
                },
                _pad: [0; 7],
            }));
            if m.visible > 0 {
                // Partly filled: it keeps its place at the front.
                self.put_front(m);
            } else if m.hidden > 0 {
                // Iceberg refill: back of the queue, new time priority.
                m.visible = m.display.min(m.hidden);
                m.hidden -= m.visible;
                m.ts = ts;
                self.put_back(m);
            }
        }
        (t.qty, false)
    }

    /// Put an order back at the very front of its price level.
    fn put_front(&mut self, o: RefOrder) {
        let side = o.side;
        let levels = self.levels_mut(side);
        if let Some(lvl) = levels.iter_mut().find(|l| l.price == o.price) {
            lvl.queue.insert(0, o);
            return;
        }
        let at = levels
            .iter()
            .position(|l| better(side, o.price, l.price))
            .unwrap_or(levels.len());
        levels.insert(
            at,
            RefLevel {
                price: o.price,
                queue: vec![o],
            },
        );
    }

    /// After matching: rest the residual, cancel it, or nothing if it all filled.
    #[allow(clippy::too_many_arguments)]
    fn conclude(
        &mut self,
        proto: RefOrder,
        total: Qty,
        filled: Qty,
        stp_stopped: bool,
        may_rest: bool,
        out: &mut Vec<Report>,
    ) -> Execution {
        let id = proto.id;
        let left = total - filled;
        let mut ex = Execution {
            order_id: id,
            status: OrderStatus::Filled,
            filled_qty: filled,
            remaining_qty: 0,
            cancelled_qty: 0,
            reason: None,
        };
        if left == 0 {
            return ex;
        }
        if stp_stopped || !may_rest {
            let reason = if stp_stopped {
                CancelReason::SelfTrade
            } else {
                CancelReason::UnfilledIoc
            };
            out.push(Report::Cancelled {
                id,
                side: proto.side,
                price: Price(proto.price),
                qty: left,
                reason,
            });
            ex.status = OrderStatus::Cancelled;
            ex.cancelled_qty = left;
            ex.reason = Some(Reason::Cancel(reason));
            return ex;
        }
        let visible = if proto.display > 0 {
            proto.display.min(left)
        } else {
            left
        };
        let resting = RefOrder {
            visible,
            hidden: left - visible,
            ..proto
        };
        out.push(Report::Rested {
            id,
            price: Price(resting.price),
            qty: left,
        });
        self.put_back(resting);
        ex.remaining_qty = left;
        ex.status = if filled == 0 {
            OrderStatus::New
        } else {
            OrderStatus::PartiallyFilled
        };
        ex
    }

    fn rejected(id: OrderId, reason: RejectReason, out: &mut Vec<Report>) -> Execution {
        out.push(Report::Rejected { id, reason });
        Execution {
            order_id: id,
            status: OrderStatus::Rejected,
            filled_qty: 0,
            remaining_qty: 0,
            cancelled_qty: 0,
            reason: Some(Reason::Reject(reason)),
        }
    }

    /// Submit a new order at time `ts`.
    pub fn submit(
        &mut self,
        o: &NewOrder,
        ts: u64,
        out: &mut Vec<Report>,
    ) -> Result<Execution, OrderError> {
        self.validate(o)?;
        let id = if o.id == 0 { self.next_free_id() } else { o.id };
        let market = o.order_type == OrderType::Market;
        let stp = o.stp.unwrap_or(self.stp_default);
        let taker = Taker {
            id,
            side: o.side,
            limit: if market { None } else { Some(o.price.0) },
            qty: o.qty,
            account: o.account,
            stp,
        };
        if o.post_only && self.crosses_opposite(o.side, o.price.0) {
            return Ok(Self::rejected(id, RejectReason::PostOnlyWouldTake, out));
        }
        if o.tif == TimeInForce::Fok {
            // Try it on a throwaway copy of the whole book.
            let mut trial = self.clone();
            let (filled, _) = trial.run_match(taker, ts, &mut Vec::new());
            if filled < o.qty {
                return Ok(Self::rejected(id, RejectReason::FokNotFillable, out));
            }
        }
        // A market order has no limit: its reports show the side's extreme price.
        let shown_price = match (market, o.side) {
            (false, _) => o.price,
            (true, Side::Buy) => Price::MAX,
            (true, Side::Sell) => Price::MIN,
        };
        out.push(Report::Accepted {
            id,
            side: o.side,
            price: shown_price,
            qty: o.qty,
            ts,
        });
        let (filled, stopped) = self.run_match(taker, ts, out);
        let iceberg = o.display_qty > 0 && o.display_qty < o.qty;
        let proto = RefOrder {
            id,
            side: o.side,
            price: shown_price.0,
            visible: 0,
            hidden: 0,
            display: if iceberg { o.display_qty } else { 0 },
            account: o.account,
            stp,
            post_only: o.post_only,
            ts,
        };
        let may_rest = !market && o.tif == TimeInForce::Gtc;
        Ok(self.conclude(proto, o.qty, filled, stopped, may_rest, out))
    }

    /// Cancel a resting order.
    pub fn cancel(&mut self, id: OrderId, out: &mut Vec<Report>) -> Result<Qty, OrderError> {
        let Some((side, li, qi)) = self.locate(id) else {
            out.push(Report::Rejected {
                id,
                reason: RejectReason::UnknownOrder,
            });
            return Err(OrderError::UnknownOrder { id });
        };
        let o = self.take_out(side, li, qi);
        out.push(Report::Cancelled {
            id,
            side: o.side,
            price: Price(o.price),
            qty: o.open(),
            reason: CancelReason::Requested,
        });
        Ok(o.open())
    }

    /// Modify a resting order's price and/or open quantity at time `ts`.
    pub fn modify(
        &mut self,
        id: OrderId,
        price: Option<Price>,
        qty: Option<Qty>,
        ts: u64,
        out: &mut Vec<Report>,
    ) -> Result<Execution, OrderError> {
        let Some((side, li, qi)) = self.locate(id) else {
            out.push(Report::Rejected {
                id,
                reason: RejectReason::UnknownOrder,
            });
            return Err(OrderError::UnknownOrder { id });
        };
        let cur = self.levels(side)[li].queue[qi].clone();
        let new_price = match price {
            Some(p) => {
                Self::check_price(p.0)?;
                p.0
            }
            None => cur.price,
        };
        let open = cur.open();
        let new_qty = qty.unwrap_or(open);
        self.check_qty(new_qty)?;

        if new_price == cur.price && new_qty <= open {
            // In place: cut the reserve first, then the displayed part.
            let cut = open - new_qty;
            let o = &mut self.levels_mut(side)[li].queue[qi];
            let from_hidden = cut.min(o.hidden);
            o.hidden -= from_hidden;
            o.visible -= cut - from_hidden;
            out.push(Report::Modified {
                id,
                price: Price(new_price),
                qty: new_qty,
                priority_kept: true,
            });
            return Ok(Execution {
                order_id: id,
                status: OrderStatus::New,
                filled_qty: 0,
                remaining_qty: new_qty,
                cancelled_qty: 0,
                reason: None,
            });
        }
        if cur.post_only && self.crosses_opposite(side, new_price) {
            out.push(Report::Rejected {
                id,
                reason: RejectReason::PostOnlyWouldTake,
            });
            return Ok(Execution {
                order_id: id,
                status: OrderStatus::Rejected,
                filled_qty: 0,
                remaining_qty: open,
                cancelled_qty: 0,
                reason: Some(Reason::Reject(RejectReason::PostOnlyWouldTake)),
            });
        }
        self.take_out(side, li, qi);
        out.push(Report::Modified {
            id,
            price: Price(new_price),
            qty: new_qty,
            priority_kept: false,
        });
        let taker = Taker {
            id,
            side,
            limit: Some(new_price),
            qty: new_qty,
            account: cur.account,
            stp: cur.stp,
        };
        let (filled, stopped) = self.run_match(taker, ts, out);
        let proto = RefOrder {
            price: new_price,
            ts,
            ..cur
        };
        Ok(self.conclude(proto, new_qty, filled, stopped, true, out))
    }

    /// All levels of `side`, best first, displayed lots only.
    pub fn depth(&self, side: Side) -> Vec<LevelView> {
        self.levels(side)
            .iter()
            .map(|l| LevelView {
                price: Price(l.price),
                qty: l.queue.iter().map(|o| o.visible).sum(),
                orders: l.queue.len() as u32,
            })
            .collect()
    }

    /// All orders of `side` in priority order.
    pub fn orders(&self, side: Side) -> Vec<OrderView> {
        self.levels(side)
            .iter()
            .flat_map(|l| l.queue.iter())
            .map(|o| OrderView {
                id: o.id,
                side: o.side,
                price: Price(o.price),
                qty: o.open(),
                visible: o.visible,
                hidden: o.hidden,
                display: o.display,
                account: o.account,
                ts: o.ts,
            })
            .collect()
    }
}
