//! The default work: summarise an order (item count, total, checksum) like a small checkout
//! function would.

use serde::Deserialize;
use serde_json::Value;

use crate::error::SampleError;

/// An order as sent in the payload's `order` field.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Order {
    pub order_id: String,
    pub customer: String,
    #[serde(default = "default_currency")]
    pub currency: String,
    pub items: Vec<LineItem>,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LineItem {
    pub sku: String,
    pub quantity: u32,
    pub unit_price_cents: u64,
}

/// What the function computes from an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OrderSummary {
    pub order_id: String,
    pub customer: String,
    pub currency: String,
    /// Sum of the quantities.
    pub items: u64,
    pub total_cents: u64,
    /// FNV-1a 64 of the order's canonical form, as 16 hex digits.
    pub checksum: String,
}

fn default_currency() -> String {
    "USD".to_owned()
}

impl Order {
    /// Deserializes an order from the payload's `order` value.
    pub(crate) fn deserialize_value(value: &Value) -> Result<Self, serde_json::Error> {
        Self::deserialize(value)
    }

    /// The order used when the payload has none.
    pub(crate) fn sample() -> Self {
        let item = |sku: &str, quantity, unit_price_cents| LineItem {
            sku: sku.to_owned(),
            quantity,
            unit_price_cents,
        };
        Self {
            order_id: "ord-1001".to_owned(),
            customer: "Ada".to_owned(),
            currency: default_currency(),
            items: vec![item("BOOK-042", 2, 1_999), item("MUG-007", 1, 1_299)],
        }
    }

    /// Checks the order and computes its summary.
    pub(crate) fn summarize(&self) -> Result<OrderSummary, SampleError> {
        let invalid = |message: String| SampleError::InvalidPayload(format!("`order`: {message}"));
        if self.items.is_empty() {
            return Err(invalid("`items` must hold at least one line".to_owned()));
        }
        let mut items: u64 = 0;
        let mut total_cents: u64 = 0;
        let mut hasher = Fnv1a::new();
        hasher.write_field(&self.order_id);
        hasher.write_field(&self.customer);
        hasher.write_field(&self.currency);
        for line in &self.items {
            if line.quantity == 0 {
                return Err(invalid(format!(
                    "line `{}` has quantity 0; use 1 or more",
                    line.sku
                )));
            }
            let line_total = line
                .unit_price_cents
                .checked_mul(u64::from(line.quantity))
                .ok_or_else(|| invalid(format!("line `{}` total overflows", line.sku)))?;
            total_cents = total_cents
                .checked_add(line_total)
                .ok_or_else(|| invalid("order total overflows".to_owned()))?;
            items = items.saturating_add(u64::from(line.quantity));
            hasher.write_field(&line.sku);
            hasher.write_field(&line.quantity.to_string());
            hasher.write_field(&line.unit_price_cents.to_string());
        }
        Ok(OrderSummary {
            order_id: self.order_id.clone(),
            customer: self.customer.clone(),
            currency: self.currency.clone(),
            items,
            total_cents,
            checksum: format!("{:016x}", hasher.finish()),
        })
    }
}

impl OrderSummary {
    /// The greeting the function answers with.
    pub(crate) fn greeting(&self) -> String {
        format!(
            "Hello, {}! Order {} ({} items) totals {}.{:02} {}.",
            self.customer,
            self.order_id,
            self.items,
            self.total_cents / 100,
            self.total_cents % 100,
            self.currency
        )
    }
}

/// 64-bit FNV-1a, enough for a stable, dependency-free checksum.
pub(crate) struct Fnv1a(u64);

impl Fnv1a {
    pub(crate) fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Writes a field followed by a separator, so ("ab","c") and ("a","bc") differ.
    fn write_field(&mut self, field: &str) {
        self.write(field.as_bytes());
        self.write(&[0x1f]);
    }

    pub(crate) fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sample_order_totals_and_greets() {
        let summary = Order::sample().summarize().unwrap();
        assert_eq!(summary.items, 3);
        assert_eq!(summary.total_cents, 2 * 1_999 + 1_299);
        assert_eq!(
            summary.greeting(),
            "Hello, Ada! Order ord-1001 (3 items) totals 52.97 USD."
        );
        assert_eq!(summary.checksum.len(), 16);
    }

    #[test]
    fn checksum_depends_on_the_content() {
        let mut other = Order::sample();
        other.items[0].quantity = 3;
        let a = Order::sample().summarize().unwrap().checksum;
        assert_eq!(a, Order::sample().summarize().unwrap().checksum);
        assert_ne!(a, other.summarize().unwrap().checksum);
    }

    #[test]
    fn fnv1a_matches_the_reference_vector() {
        let mut hasher = Fnv1a::new();
        hasher.write(b"a");
        assert_eq!(hasher.finish(), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn invalid_orders_are_explained() {
        let mut empty = Order::sample();
        empty.items.clear();
        assert!(
            empty
                .summarize()
                .unwrap_err()
                .to_string()
                .contains("at least one line")
        );

        let mut zero = Order::sample();
        zero.items[1].quantity = 0;
        assert!(
            zero.summarize()
                .unwrap_err()
                .to_string()
                .contains("`MUG-007` has quantity 0")
        );

        let mut huge = Order::sample();
        huge.items[0].unit_price_cents = u64::MAX;
        assert!(huge.summarize().unwrap_err().to_string().contains("overflows"));
    }

    #[test]
    fn currency_defaults_to_usd_and_unknown_fields_fail() {
        let order = Order::deserialize_value(&json!({
            "order_id": "o", "customer": "c", "items": [{"sku": "s", "quantity": 1, "unit_price_cents": 5}]
        }))
        .unwrap();
        assert_eq!(order.currency, "USD");
        let error = Order::deserialize_value(&json!({
            "order_id": "o", "customer": "c", "items": [], "coupon": "X"
        }))
        .unwrap_err();
        assert!(error.to_string().contains("unknown field `coupon`"));
    }
}
