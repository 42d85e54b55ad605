"""A CTC phone recogniser trained in the toolkit: espeak-ng G2P targets, per-frame posteriors."""
