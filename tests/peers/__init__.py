"""Loopback peers for vendors that exist only as SaaS: each answers as the vendor's API documentation says
(paths, status codes, error bodies, rate limits) and records what Warroom sent."""
