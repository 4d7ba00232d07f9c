//! The estimated cost of an invocation: billed duration × memory × the price per GB-second of
//! the region and architecture, plus the request charge.
//!
//! Prices are Lambda's public on-demand list prices, first pricing tier, as of 2026-11 (the
//! `price_table_date!` below). They ignore the free tier, Savings Plans, the lower tiers above 6 billion
//! GB-seconds a month, ephemeral storage above 512 MB and provisioned concurrency. A region not
//! in the table is priced as us-east-1, and says so in the `PriceSource` property; set
//! `LAMBDA_LENS_PRICE_PER_GB_SECOND` / `LAMBDA_LENS_PRICE_PER_REQUEST` to override.

/// The date of the price table, declared once; a macro so that the source texts below are
/// `&'static str` (no formatting per invocation).
macro_rules! price_table_date {
    () => {
        "2026-11"
    };
}

/// US dollars.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Pricing {
    pub(crate) per_gb_second: f64,
    pub(crate) per_request: f64,
    /// Where the prices came from, for the `PriceSource` property.
    pub(crate) source: PriceSource,
}

/// Where the prices of [`Pricing`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PriceSource {
    /// `LAMBDA_LENS_PRICE_PER_GB_SECOND` or `LAMBDA_LENS_PRICE_PER_REQUEST`.
    Configured,
    /// The table, for the function's region.
    Table,
    /// The table's us-east-1 prices: the region is not in the table.
    TableDefault,
}

impl PriceSource {
    /// The `PriceSource` property's text.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Configured => "configured",
            Self::Table => concat!("table ", price_table_date!()),
            Self::TableDefault => concat!(
                "table ",
                price_table_date!(),
                " (us-east-1 prices: region not in the table)"
            ),
        }
    }
}

const X86_STANDARD: f64 = 0.000_016_666_7;
const ARM_STANDARD: f64 = 0.000_013_333_4;
const REQUEST_STANDARD: f64 = 0.000_000_2;

/// Regions whose first-tier prices are the standard ones (us-east-1's).
const STANDARD_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "sa-east-1",
];

impl Pricing {
    /// The price for `region` and `architecture` (`x86_64` or `arm64`), with overrides.
    pub(crate) fn for_region(
        region: Option<&str>,
        architecture: &str,
        per_gb_second: Option<f64>,
        per_request: Option<f64>,
    ) -> Self {
        let known = region.is_some_and(|r| STANDARD_REGIONS.contains(&r));
        let table_gbs = if architecture == "arm64" {
            ARM_STANDARD
        } else {
            X86_STANDARD
        };
        let source = match (per_gb_second.is_some() || per_request.is_some(), known) {
            (true, _) => PriceSource::Configured,
            (false, true) => PriceSource::Table,
            (false, false) => PriceSource::TableDefault,
        };
        Self {
            per_gb_second: per_gb_second.unwrap_or(table_gbs),
            per_request: per_request.unwrap_or(REQUEST_STANDARD),
            source,
        }
    }

    /// The cost of one invocation billed for `billed_ms` at `memory_mb`.
    pub(crate) fn invocation_cost(&self, billed_ms: f64, memory_mb: f64) -> f64 {
        (billed_ms / 1000.0) * (memory_mb / 1024.0) * self.per_gb_second + self.per_request
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_second_at_one_gb_in_us_east_1() {
        let p = Pricing::for_region(Some("us-east-1"), "x86_64", None, None);
        let cost = p.invocation_cost(1000.0, 1024.0);
        assert!((cost - (0.000_016_666_7 + 0.000_000_2)).abs() < 1e-15);
        assert_eq!(p.source.as_str(), "table 2026-11");
        let arm = Pricing::for_region(Some("eu-west-1"), "arm64", None, None);
        assert!(arm.invocation_cost(1000.0, 1024.0) < cost);
    }

    #[test]
    fn unknown_regions_say_so_and_overrides_win() {
        let p = Pricing::for_region(Some("xx-moon-1"), "x86_64", None, None);
        assert!(p.source.as_str().contains("not in the table"));
        let p = Pricing::for_region(Some("us-east-1"), "x86_64", Some(0.0001), None);
        assert_eq!((p.per_gb_second, p.source), (0.0001, PriceSource::Configured));
        assert!((p.invocation_cost(500.0, 2048.0) - (0.5 * 2.0 * 0.0001 + 0.000_000_2)).abs() < 1e-15);
    }
}
