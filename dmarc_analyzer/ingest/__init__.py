"""Turning files into parsed aggregate reports and storing them."""
