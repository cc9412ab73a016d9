"""Tests of Bloodbank (a package, so that module names such as test_cli do not collide across components)."""
