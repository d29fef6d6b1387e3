"""Pulling from Shopify: scheduled reconciliation and the one-off backfill."""
