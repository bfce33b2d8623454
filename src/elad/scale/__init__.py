"""Scale-out: a round's training on several devices (launch.py, accelerate) and steps 1-2 on
a Ray cluster (ray_scoring.py)."""
