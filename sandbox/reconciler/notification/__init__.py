"""notification-controller's share: Receivers (webhooks that trigger reconciles), and later Providers and Alerts."""
