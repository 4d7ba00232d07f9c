//! The HTML page in headless Chromium (Debian's `chromium`): a screenshot, kept under `target/`,
//! in which every chart that should have data shows its series' colours, and the DOM Chromium
//! built, in which each such chart has one SVG circle per data point.

use std::path::{Path, PathBuf};
use std::process::Command;

use lambda_lens_report::render::html::CHARTS;

fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser"] {
        for dir in ["/usr/bin", "/usr/local/bin", "/snap/bin"] {
            let path = Path::new(dir).join(name);
            if path.is_file() {
                return path;
            }
        }
    }
    panic!("chromium is missing: `make test` installs Debian's chromium (apt-get install chromium)")
}

fn run(page: &Path, profile: &Path, height: u32, extra: &[String]) -> std::process::Output {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
        ])
        .arg(format!("--window-size=1360,{height}"))
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Pixels of `png` within a small distance of `rgb`.
pub(crate) fn pixels_of(image: &[u8], channels: usize, rgb: (u8, u8, u8)) -> usize {
    image
        .chunks(channels)
        .filter(|p| {
            let close = |a: u8, b: u8| a.abs_diff(b) <= 10;
            close(p[0], rgb.0) && close(p[1], rgb.1) && close(p[2], rgb.2)
        })
        .count()
}

/// What Chromium made of a page: the DOM it built and the screenshot's pixels.
pub(crate) struct Shown {
    pub(crate) dom: String,
    pub(crate) image: Vec<u8>,
    pub(crate) channels: usize,
}

/// Opens `page` in a window 1,360 pixels wide and `height` high, keeps its screenshot at
/// `screenshot`, and returns the DOM and the decoded screenshot.
pub(crate) fn show(page: &Path, screenshot: &Path, height: u32) -> Shown {
    let profile = screenshot.with_extension("chromium-profile");
    let _ = std::fs::remove_dir_all(&profile);
    run(
        page,
        &profile,
        height,
        &[format!("--screenshot={}", screenshot.display())],
    );
    let dom = String::from_utf8(run(page, &profile, height, &["--dump-dom".to_owned()]).stdout).unwrap();
    let _ = std::fs::remove_dir_all(&profile);

    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(screenshot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut image = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut image).unwrap();
    let channels = info.color_type.samples();
    image.truncate(info.buffer_size());
    Shown { dom, image, channels }
}

/// Opens `page`; checks that the charts `with_data` were drawn with `points[chart]` data points
/// and that the others show no series; keeps the screenshot at `screenshot`.
pub(crate) fn check(page: &Path, with_data: &[(&str, usize)], screenshot: &Path) {
    let shown = show(page, screenshot, 2200);
    let (dom, image, channels) = (&shown.dom, &shown.image[..], shown.channels);

    for chart in CHARTS {
        let expected = with_data.iter().find(|(id, _)| *id == chart.id).map(|(_, n)| *n);
        let figure = dom
            .split(&format!("id=\"chart-{}\"", chart.id))
            .nth(1)
            .and_then(|rest| rest.split("</figure>").next())
            .unwrap_or_else(|| panic!("chart {} is not in the page", chart.id));
        let circles = figure.matches("<circle").count();
        let coloured: usize = chart
            .colours
            .iter()
            .map(|(_, c)| pixels_of(image, channels, *c))
            .sum();
        match expected {
            Some(points) => {
                assert!(figure.contains("<svg"), "chart {} has no SVG", chart.id);
                assert_eq!(circles, points, "chart {}: one circle per data point", chart.id);
                assert!(
                    coloured >= 150,
                    "chart {} shows only {coloured} pixels of its series' colours: an empty frame?",
                    chart.id
                );
            }
            None => {
                assert_eq!(circles, 0, "chart {} should have no data", chart.id);
                assert!(
                    figure.contains("class=\"empty\""),
                    "chart {} should say why it is empty",
                    chart.id
                );
            }
        }
    }
}
