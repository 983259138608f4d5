//! Where things go on the screen. The frame is a two-line header, the body
//! and a one-line footer. The overview body has two arrangements:
//!
//! ```text
//! wide (>= 150 columns, >= 24 rows)        narrow (and when short)
//! +-------------------------------------+  +----------------------------+
//! | header: env | db | sources | clock  |  | header                     |
//! | breadcrumbs        DOWN banner      |  | breadcrumbs   DOWN banner  |
//! +------------------+------------------+  +----------------------------+
//! | 1 API latency    | 2 Integrations   |  | 2 Integrations (failing    |
//! |                  |   failing first  |  |   first, sized to content) |
//! |                  |                  |  +----------------------------+
//! +-----------+------+------------------+  | 1 API latency              |
//! | 3 Sessions| 4 Alerts                |  +-------------+--------------+
//! |           |                         |  | 3 Sessions  | 4 Alerts     |
//! +-----------+-------------------------+  +-------------+--------------+
//! | 5 Business strip                    |  | 5 Business strip           |
//! | footer: notice / key hints          |  | footer                     |
//! +-------------------------------------+  +----------------------------+
//! ```
//!
//! As the height drops, panes give up rows and then disappear, lowest
//! priority first (business, sessions and alerts, latency); integrations and
//! the focused pane stay. Every computation saturates, so no size panics.

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

/// Lay out the overview in `area` with `focus` kept visible; `integrations`
/// is the number of integration rows (their pane is sized to fit them).
pub fn overview(area: Rect, focus: PaneId, integrations: usize) -> OverviewAreas {
    let mut out = OverviewAreas::default();
    let h = area.height;
    let int_rows = (integrations.max(1) as u16).saturating_add(3).min(12);
    if area.width >= WIDE && h >= 24 {
        let business = BUSINESS_ROWS + u16::from(h >= 40);
        let rest = h.saturating_sub(business);
        let top = (rest * 11 / 20).max(int_rows.min(rest));
        let [t, b, s] = Layout::vertical([
            Constraint::Length(top),
            Constraint::Length(rest.saturating_sub(top)),
            Constraint::Length(business),
        ])
        .areas(area);
        let [lat, int] =
            Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)]).areas(t);
        let [ses, ale] =
            Layout::horizontal([Constraint::Percentage(38), Constraint::Percentage(62)]).areas(b);
        out.set(PaneId::Latency, lat);
        out.set(PaneId::Integrations, int);
        out.set(PaneId::Sessions, ses);
        out.set(PaneId::Alerts, ale);
        out.set(PaneId::Business, s);
        return out;
    }

    // Narrow: stacked rows. Each row: (panes, minimum, wanted).
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

    #[test]
    fn every_size_fits_and_keeps_the_focus() {
        for w in 0..200u16 {
            for h in 0..60u16 {
                for focus in PaneId::ALL {
                    let area = Rect::new(0, 2, w, h);
                    let o = overview(area, focus, 5);
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
        let o = overview(Rect::new(0, 2, 80, 21), PaneId::Integrations, 5);
        assert_eq!(o.hidden(), 0, "{o:?}");
    }
}
