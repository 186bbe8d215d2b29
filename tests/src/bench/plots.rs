//! PNG plots of a bench report (plotters): program cost per mode, and per-member throughput
//! through a failover.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::{Report, failover::Series};

/// Font for labels (Debian's fonts-dejavu-core, installed by `cargo xtask setup`).
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

fn register_font() -> bool {
    let Ok(bytes) = std::fs::read(FONT) else {
        return false;
    };
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
}

/// Draws every plot the report has data for; returns the files written.
pub fn draw(report: &Report, series: &[Series], dir: &Path) -> Vec<PathBuf> {
    if !register_font() {
        eprintln!("no font at {FONT}: skipping plots");
        return Vec::new();
    }
    let mut written = Vec::new();
    if let Some(section) = report.sections.iter().find(|s| s.title == "Program cost") {
        let path = dir.join("prog_cost.png");
        let bars: Vec<(String, f64)> = section
            .rows
            .iter()
            .map(|r| (r.name.clone(), r.median))
            .collect();
        if bar_chart(&path, "egress program cost (ns/packet, median)", &bars).is_ok() {
            written.push(path);
        }
    }
    for (i, s) in series.iter().enumerate() {
        let path = dir.join(format!(
            "failover_timeline{}.png",
            if i == 0 {
                String::new()
            } else {
                format!("_{i}")
            }
        ));
        if line_chart(&path, s).is_ok() {
            written.push(path);
        }
    }
    written
}

fn bar_chart(
    path: &Path,
    title: &str,
    bars: &[(String, f64)],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::new(path, (1000, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max) * 1.15;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(30)
        .y_label_area_size(290)
        .build_cartesian_2d(0.0..max, (0..bars.len()).into_segmented())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => bars.get(*i).map(|b| b.0.clone()).unwrap_or_default(),
            _ => String::new(),
        })
        .x_desc("ns/packet")
        .draw()?;
    chart.draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
        let color = if i == 0 {
            RGBColor(150, 150, 150)
        } else {
            RGBColor(40, 110, 190)
        };
        Rectangle::new(
            [
                (0.0, SegmentValue::Exact(i)),
                (*v, SegmentValue::Exact(i + 1)),
            ],
            color.filled(),
        )
    }))?;
    root.present()?;
    Ok(())
}

fn line_chart(path: &Path, s: &Series) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::new(path, (1000, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let t_max = s.t.last().copied().unwrap_or(1.0);
    let y_max = s.values.iter().flatten().copied().fold(0.0, f64::max) * 1.15 + 1e-9;
    let mut chart = ChartBuilder::on(&root)
        .caption(&s.title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..t_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc(&s.unit)
        .draw()?;
    let palette = [
        RGBColor(40, 110, 190),
        RGBColor(220, 120, 30),
        RGBColor(40, 160, 80),
        RGBColor(160, 60, 160),
    ];
    for (i, name) in s.names.iter().enumerate() {
        let color = palette[i % palette.len()];
        chart
            .draw_series(LineSeries::new(
                s.t.iter().copied().zip(s.values[i].iter().copied()),
                color.stroke_width(2),
            ))?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    for (t, label) in &s.marks {
        chart.draw_series(LineSeries::new(
            vec![(*t, 0.0), (*t, y_max)],
            BLACK.mix(0.4),
        ))?;
        chart.draw_series(std::iter::once(Text::new(
            label.clone(),
            (*t, y_max * 0.95),
            ("sans-serif", 14),
        )))?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;
    root.present()?;
    Ok(())
}
