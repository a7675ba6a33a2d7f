"""Machinery of the course site (block execution, stamps, syllabus table); not course content."""
