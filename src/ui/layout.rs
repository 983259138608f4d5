//! Where things go on the screen. The frame is a two-line header, the body
//! and a one-line footer. The overview body has two arrangements, and in
//! both the panes share the rows by what they have to show ([`Wants`]):
//! a list gets the rows its items need, and the spare rows go to the
//! panes that draw more with them (the latency and integration panes add
//! per-row log-scale charts below their tables).
//!
//! ```text
//! wide (>= 150 columns, >= 24 rows)        narrow (and when short)
//! +-------------------------------------+  +----------------------------+
//! | header: env | db | sources | clock  |  | header                     |
//! | breadcrumbs        DOWN banner      |  | breadcrumbs   DOWN banner  |
//! +---------------------+---------------+  +----------------------------+
//! | 1 API latency       | 2 Integrations|  | 2 Integrations (failing    |
//! |   table, then a     |   (+ charts)  |  |   first, sized to content) |
//! |   chart per         +---------------+  +----------------------------+
//! |   endpoint in the   | 4 Alerts      |  | 1 API latency              |
//! |   spare rows (the   +---------------+  +-------------+--------------+
//! |   first N if not    | 3 Sessions    |  | 3 Sessions  | 4 Alerts     |
//! |   all fit)          |               |  |             |              |
//! +---------------------+---------------+  +-------------+--------------+
//! | 5 Business strip                    |  | 5 Business strip           |
//! | footer: notice / key hints          |  | footer                     |
//! +-------------------------------------+  +----------------------------+
//! ```
//!
//! The right column of the wide arrangement is at least wide enough for
//! every integration column. As the height drops, panes give up rows and
//! then disappear, lowest priority first (business, sessions and alerts,
//! latency); integrations and the focused pane stay. Every computation
//! saturates, so no size panics.

use ratatui::layout::{Constraint, Layout, Rect};

use super::pane::PaneId;

/// Header, body, footer.
pub fn frame(area: Rect) -> [Rect; 3] {
    Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area)
}

/// The rectangle of each overview pane (`None`: not shown at this size).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OverviewAreas {
    pub panes: [Option<Rect>; 5],
}

impl OverviewAreas {
    pub fn get(&self, p: PaneId) -> Option<Rect> {
        self.panes[p.index()]
    }
    fn set(&mut self, p: PaneId, r: Rect) {
        if r.width > 0 && r.height > 0 {
            self.panes[p.index()] = Some(r);
        }
    }
    pub fn hidden(&self) -> usize {
        self.panes.iter().filter(|p| p.is_none()).count()
    }
}

/// Width from which panes sit side by side.
pub const WIDE: u16 = 150;
/// Rows the business strip takes (a bordered line, or a bare one when short).
const BUSINESS_ROWS: u16 = 3;
/// Narrowest right column of the wide arrangement: the integrations pane
/// shows all its columns from here (its table wants 70 inside the frame).
const RIGHT_MIN: u16 = 74;

/// From this body height the narrow arrangement sizes sessions and alerts
/// to their content (below it they share evenly, as they always did).
const TALL: u16 = 28;

/// How many rows each overview list has to show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wants {
    pub endpoints: usize,
    pub integrations: usize,
    pub sessions: usize,
    pub alerts: usize,
}

impl Wants {
    /// Frame and heading plus `n` rows (and `extra` fixed lines).
    fn rows(n: usize, extra: u16) -> u16 {
        (n.clamp(1, 200) as u16).saturating_add(3 + extra)
    }
    fn integrations(&self) -> u16 {
        Self::rows(self.integrations, 0)
    }
    fn alerts(&self) -> u16 {
        Self::rows(self.alerts, 0)
    }
    /// Sessions have their sparkline line above the table.
    fn sessions(&self) -> u16 {
        Self::rows(self.sessions, 1)
    }
}

/// Lay out the overview in `area` with `focus` kept visible.
pub fn overview(area: Rect, focus: PaneId, wants: &Wants) -> OverviewAreas {
    if area.width >= WIDE && area.height >= 24 {
        wide(area, wants)
    } else {
        narrow(area, focus, wants)
    }
}

/// Latency on the left at full height; integrations, alerts and sessions
/// stacked on the right, each up to what it has to show, the rest of the
/// column to the integrations (their charts); business along the bottom.
fn wide(area: Rect, wants: &Wants) -> OverviewAreas {
    let mut out = OverviewAreas::default();
    let h = area.height;
    let business = BUSINESS_ROWS + u16::from(h >= 40);
    let rest = h.saturating_sub(business);
    let right_w = (area.width * 42 / 100)
        .max(RIGHT_MIN)
        .min(area.width.saturating_sub(60));
    let [left, right, strip] = {
        let [top, strip] =
            Layout::vertical([Constraint::Length(rest), Constraint::Length(business)]).areas(area);
        let [l, r] =
            Layout::horizontal([Constraint::Min(0), Constraint::Length(right_w)]).areas(top);
        [l, r, strip]
    };
    // Minimums first, then each want in priority order, then the spare
    // rows to the integrations.
    let mins = [4u16, 4, 5];
    let want = [wants.integrations(), wants.alerts(), wants.sessions()];
    let mut heights = mins;
    let mut left_rows = rest.saturating_sub(mins.iter().sum());
    for (hgt, w) in heights.iter_mut().zip(want) {
        let add = w.saturating_sub(*hgt).min(left_rows);
        *hgt += add;
        left_rows -= add;
    }
    heights[0] += left_rows;
    let [int, ale, ses] = Layout::vertical(heights.map(Constraint::Length)).areas(right);
    out.set(PaneId::Latency, left);
    out.set(PaneId::Integrations, int);
    out.set(PaneId::Alerts, ale);
    out.set(PaneId::Sessions, ses);
    out.set(PaneId::Business, strip);
    out
}

/// Stacked rows: integrations (sized to them), latency, sessions and
/// alerts side by side (or stacked when very narrow), business.
fn narrow(area: Rect, focus: PaneId, wants: &Wants) -> OverviewAreas {
    let mut out = OverviewAreas::default();
    let h = area.height;
    let int_rows = wants.integrations().min(12);
    // Each row: (panes, minimum, wanted); u16::MAX shares what is left.
    let side_by_side = area.width >= 70;
    let mut rows: Vec<(Vec<PaneId>, u16, u16)> = vec![
        (vec![PaneId::Integrations], 4, int_rows),
        (vec![PaneId::Latency], 4, u16::MAX),
    ];
    if side_by_side {
        rows.push((vec![PaneId::Sessions, PaneId::Alerts], 4, u16::MAX));
    } else {
        rows.push((vec![PaneId::Alerts], 4, u16::MAX));
        rows.push((vec![PaneId::Sessions], 4, u16::MAX));
    }
    // Short screens get the business strip as one bare line.
    let business = if h < 26 { 1 } else { BUSINESS_ROWS };
    rows.push((vec![PaneId::Business], business, business));

    // Drop rows, lowest priority first, until the minimums fit; the row
    // holding the focused pane stays.
    let drop_order = [
        PaneId::Business,
        PaneId::Sessions,
        PaneId::Alerts,
        PaneId::Latency,
        PaneId::Integrations,
    ];
    for victim in drop_order {
        let need: u16 = rows.iter().map(|r| r.1).sum();
        if need <= h || rows.len() <= 1 {
            break;
        }
        rows.retain(|r| !r.0.contains(&victim) || r.0.contains(&focus));
    }

    // Heights: minimums first, then fixed wishes, then share the rest.
    let mut heights: Vec<u16> = rows.iter().map(|r| r.1.min(h)).collect();
    let mut left = h.saturating_sub(heights.iter().sum());
    for (i, r) in rows.iter().enumerate() {
        if r.2 != u16::MAX {
            let add = r.2.saturating_sub(heights[i]).min(left);
            heights[i] += add;
            left -= add;
        }
    }
    let flex: Vec<usize> = (0..rows.len()).filter(|i| rows[*i].2 == u16::MAX).collect();
    if !flex.is_empty() {
        // The latency pane gets a bit more than an even share.
        let n = flex.len() as u16;
        let share = left / n;
        let mut extra = left - share * n;
        for &i in &flex {
            heights[i] += share;
            if extra > 0 && rows[i].0.contains(&PaneId::Latency) {
                heights[i] += extra;
                extra = 0;
            }
        }
        if extra > 0 {
            heights[flex[0]] += extra;
        }
    } else if let Some(last) = heights.last_mut() {
        *last += left;
    }
    // On a tall screen, sessions and alerts beyond what they have to show:
    // to the latency pane, which draws charts in spare rows.
    let lat = rows.iter().position(|r| r.0.contains(&PaneId::Latency));
    if let Some(lat) = lat.filter(|_| h >= TALL) {
        for (i, r) in rows.iter().enumerate() {
            let cap = r.0.iter().fold(0u16, |c, p| {
                c.max(match p {
                    PaneId::Sessions => wants.sessions(),
                    PaneId::Alerts => wants.alerts(),
                    _ => u16::MAX,
                })
            });
            if heights[i] > cap {
                let excess = heights[i] - cap;
                heights[i] = cap;
                heights[lat] += excess;
            }
        }
    }

    let mut y = area.y;
    for (r, hgt) in rows.iter().zip(heights) {
        let hgt = hgt.min(area.bottom().saturating_sub(y));
        let row = Rect::new(area.x, y, area.width, hgt);
        y = y.saturating_add(hgt);
        if r.0.len() == 2 {
            let [a, b] =
                Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)])
                    .areas(row);
            out.set(r.0[0], a);
            out.set(r.0[1], b);
        } else {
            out.set(r.0[0], row);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIVE: Wants = Wants {
        endpoints: 5,
        integrations: 5,
        sessions: 5,
        alerts: 5,
    };

    #[test]
    fn every_size_fits_and_keeps_the_focus() {
        for w in 0..200u16 {
            for h in 0..60u16 {
                for focus in PaneId::ALL {
                    let area = Rect::new(0, 2, w, h);
                    let o = overview(area, focus, &FIVE);
                    for r in o.panes.iter().flatten() {
                        assert!(r.right() <= area.right() && r.bottom() <= area.bottom());
                    }
                    if h >= 4 && w > 0 {
                        assert!(o.get(focus).is_some(), "{w}x{h} lost {focus:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn all_panes_at_80x24() {
        let o = overview(Rect::new(0, 2, 80, 21), PaneId::Integrations, &FIVE);
        assert_eq!(o.hidden(), 0, "{o:?}");
    }

    #[test]
    fn the_wall_screen_gives_lists_their_rows_and_the_rest_to_charts() {
        let w = Wants {
            endpoints: 10,
            integrations: 5,
            sessions: 6,
            alerts: 4,
        };
        let o = overview(Rect::new(0, 2, 240, 61), PaneId::Integrations, &w);
        let h = |p| o.get(p).unwrap().height;
        let width = |p| o.get(p).unwrap().width;
        assert_eq!(h(PaneId::Alerts), 4 + 3);
        assert_eq!(h(PaneId::Sessions), 6 + 4);
        assert_eq!(h(PaneId::Latency), 61 - 4);
        assert_eq!(h(PaneId::Integrations), 61 - 4 - 7 - 10);
        // At 160 columns the integrations keep all their columns.
        let o = overview(Rect::new(0, 2, 160, 45), PaneId::Integrations, &w);
        assert!(o.get(PaneId::Integrations).unwrap().width >= RIGHT_MIN);
        assert!(width(PaneId::Latency) >= 80);
        // Narrow: sessions and alerts stop at what they hold.
        let few = Wants {
            sessions: 1,
            alerts: 1,
            ..w
        };
        let o = overview(Rect::new(0, 2, 100, 60), PaneId::Integrations, &few);
        assert_eq!(o.get(PaneId::Sessions).unwrap().height, 1 + 4);
        assert!(o.get(PaneId::Latency).unwrap().height > 30);
    }
}
