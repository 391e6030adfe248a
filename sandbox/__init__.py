"""A provider simulator: an independent model of the four providers' APIs."""
