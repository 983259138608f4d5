//! The overview screen: the five panes placed by [`crate::ui::layout::overview`].

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use super::super::Ctx;
use super::super::layout;
use super::super::mouse::Spot;
use super::super::pane::PaneId;
use super::super::panes::{alerts, business, integrations, latency, sessions};

pub struct Overview<'a> {
    pub ctx: Ctx<'a>,
}

impl Widget for Overview<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx;
        let s = ctx.state;
        let wants = layout::Wants {
            endpoints: s.endpoints().len(),
            integrations: s.integrations().len(),
            sessions: s.sessions().items.len(),
            alerts: s.alerts().len(),
        };
        let areas = layout::overview(area, ctx.app.focus, &wants);
        for p in PaneId::ALL {
            let Some(r) = areas.get(p) else { continue };
            ctx.hit(r, Spot::Pane(p));
            match p {
                PaneId::Latency => latency::LatencyPane { ctx }.render(r, buf),
                PaneId::Integrations => integrations::IntegrationsPane { ctx }.render(r, buf),
                PaneId::Sessions => sessions::SessionsPane { ctx }.render(r, buf),
                PaneId::Alerts => alerts::AlertsPane { ctx }.render(r, buf),
                PaneId::Business => business::BusinessPane { ctx }.render(r, buf),
            }
        }
    }
}
