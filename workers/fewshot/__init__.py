"""Few-shot chip segmentation engine (numpy + torch, no Django); see CONTRACT.md."""
