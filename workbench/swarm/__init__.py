"""Docker Swarm as an engine of environments (issue 13): images, secrets, services."""
