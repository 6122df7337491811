"""Scripts that prepare real data sets (CREMA-D, Kinetics-Sounds) from files the user downloaded."""
